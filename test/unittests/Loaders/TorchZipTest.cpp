//===- TorchZipTest.cpp - torch.save zip and pickle reader tests ---------===//
//
// Part of quant-opt.
//
// Real archives, hand-built archives and hostile containers; the hostile
// pickles are in HostilePickleTest.cpp.
//
//===----------------------------------------------------------------------===//

#include "qopt/Loaders/TorchZip.h"
#include "qopt/Loaders/Pickle.h"
#include "qopt/Loaders/TensorReader.h"

#include "TorchZipTestUtil.h"

#include <gtest/gtest.h>

using namespace qopt::loaders;
using namespace qopt::loaders::test;
using qopt::numerics::DType;

namespace {

struct ExpectedTensor {
  const char *name;
  std::vector<int64_t> shape;
  uint64_t offset;
};

// State-dict order and record data offsets of
// test/Inputs/llama-fp32-bin/pytorch_model.bin, read independently with
// Python's zipfile/pickletools: tensor i uses storage record data/<i>, whose
// payload starts at local header offset + 30 + name length + extra length.
const ExpectedTensor kFp32Bin[] = {
    {"model.embed_tokens.weight", {512, 128}, 3968},
    {"model.layers.0.self_attn.q_proj.weight", {128, 128}, 266240},
    {"model.layers.0.self_attn.k_proj.weight", {64, 128}, 331904},
    {"model.layers.0.self_attn.v_proj.weight", {64, 128}, 364800},
    {"model.layers.0.self_attn.o_proj.weight", {128, 128}, 397696},
    {"model.layers.0.mlp.gate_proj.weight", {256, 128}, 463360},
    {"model.layers.0.mlp.up_proj.weight", {256, 128}, 594560},
    {"model.layers.0.mlp.down_proj.weight", {128, 256}, 725760},
    {"model.layers.0.input_layernorm.weight", {128}, 856960},
    {"model.layers.0.post_attention_layernorm.weight", {128}, 857600},
    {"model.layers.1.self_attn.q_proj.weight", {128, 128}, 858240},
    {"model.layers.1.self_attn.k_proj.weight", {64, 128}, 923904},
    {"model.layers.1.self_attn.v_proj.weight", {64, 128}, 956800},
    {"model.layers.1.self_attn.o_proj.weight", {128, 128}, 989696},
    {"model.layers.1.mlp.gate_proj.weight", {256, 128}, 1055360},
    {"model.layers.1.mlp.up_proj.weight", {256, 128}, 1186560},
    {"model.layers.1.mlp.down_proj.weight", {128, 256}, 1317760},
    {"model.layers.1.input_layernorm.weight", {128}, 1448960},
    {"model.layers.1.post_attention_layernorm.weight", {128}, 1449600},
    {"model.norm.weight", {128}, 1450240},
    {"lm_head.weight", {512, 128}, 1450880},
};

/// Row-major strides of `shape`.
std::vector<int64_t> rowMajor(const std::vector<int64_t> &shape) {
  std::vector<int64_t> s(shape.size(), 1);
  for (size_t i = shape.size(); i-- > 1;)
    s[i - 1] = s[i] * shape[i];
  return s;
}

void expectTable(const CheckpointFile &cf, const ExpectedTensor *table,
                 size_t n, DType dtype, size_t elem) {
  ASSERT_EQ(cf.tensors.size(), n);
  for (size_t i = 0; i < n; ++i) {
    const TensorInfo &t = cf.tensors[i];
    SCOPED_TRACE(table[i].name);
    EXPECT_EQ(t.name, table[i].name);
    EXPECT_EQ(t.dtype, dtype);
    EXPECT_EQ(t.shape, table[i].shape);
    EXPECT_EQ(t.strides, rowMajor(table[i].shape));
    EXPECT_TRUE(t.isContiguous());
    EXPECT_EQ(t.offset, table[i].offset);
    int64_t numel = 1;
    for (int64_t d : table[i].shape)
      numel *= d;
    EXPECT_EQ(t.storageBytes, uint64_t(numel) * elem);
    EXPECT_EQ(t.file, cf.path);
  }
}

TEST(TorchZipTest, RealFp32Bin) {
  std::string path = inputPath("llama-fp32-bin/pytorch_model.bin");
  llvm::Expected<CheckpointFile> cf = readTorchZipHeader(path);
  ASSERT_TRUE(bool(cf)) << llvm::toString(cf.takeError());
  EXPECT_EQ(cf->path, path);
  expectTable(*cf, kFp32Bin, std::size(kFp32Bin), DType::F32, 4);
}

TEST(TorchZipTest, RealFp16Shards) {
  // Offsets read independently with Python's zipfile (see kFp32Bin).
  const ExpectedTensor shard1[] = {
      {"model.embed_tokens.weight", {512, 128}, 1728},
      {"model.layers.0.self_attn.q_proj.weight", {128, 128}, 132928},
      {"model.layers.0.self_attn.k_proj.weight", {64, 128}, 165824},
      {"model.layers.0.self_attn.v_proj.weight", {64, 128}, 182336},
      {"model.layers.0.self_attn.o_proj.weight", {128, 128}, 198848},
      {"model.layers.0.mlp.gate_proj.weight", {256, 128}, 231744},
      {"model.layers.0.mlp.up_proj.weight", {256, 128}, 297408},
      {"model.layers.0.mlp.down_proj.weight", {128, 256}, 363072},
      {"model.layers.0.input_layernorm.weight", {128}, 428736},
      {"model.layers.0.post_attention_layernorm.weight", {128}, 429120},
  };
  const ExpectedTensor shard2[] = {
      {"model.layers.1.self_attn.q_proj.weight", {128, 128}, 1792},
      {"model.layers.1.self_attn.k_proj.weight", {64, 128}, 34688},
      {"model.layers.1.self_attn.v_proj.weight", {64, 128}, 51200},
      {"model.layers.1.self_attn.o_proj.weight", {128, 128}, 67712},
      {"model.layers.1.mlp.gate_proj.weight", {256, 128}, 100608},
      {"model.layers.1.mlp.up_proj.weight", {256, 128}, 166272},
      {"model.layers.1.mlp.down_proj.weight", {128, 256}, 231936},
      {"model.layers.1.input_layernorm.weight", {128}, 297600},
      {"model.layers.1.post_attention_layernorm.weight", {128}, 297984},
      {"model.norm.weight", {128}, 298368},
      {"lm_head.weight", {512, 128}, 298752},
  };
  llvm::Expected<CheckpointFile> a = readTorchZipHeader(
      inputPath("llama-fp16-bin-sharded/pytorch_model-00001-of-00002.bin"));
  ASSERT_TRUE(bool(a)) << llvm::toString(a.takeError());
  expectTable(*a, shard1, std::size(shard1), DType::F16, 2);
  llvm::Expected<CheckpointFile> b = readTorchZipHeader(
      inputPath("llama-fp16-bin-sharded/pytorch_model-00002-of-00002.bin"));
  ASSERT_TRUE(bool(b)) << llvm::toString(b.takeError());
  expectTable(*b, shard2, std::size(shard2), DType::F16, 2);
}

TEST(TorchZipTest, RealZipDirectory) {
  // 27 records; the first is data.pkl with its payload at 64 (FB padding).
  llvm::Expected<RandomAccessFile> file =
      RandomAccessFile::open(inputPath("llama-fp32-bin/pytorch_model.bin"));
  ASSERT_TRUE(bool(file)) << llvm::toString(file.takeError());
  llvm::Expected<std::vector<ZipEntry>> entries = readZipDirectory(*file);
  ASSERT_TRUE(bool(entries)) << llvm::toString(entries.takeError());
  ASSERT_EQ(entries->size(), 27u);
  EXPECT_EQ((*entries)[0].name, "pytorch_model/data.pkl");
  EXPECT_EQ((*entries)[0].headerOffset, 0u);
  EXPECT_EQ((*entries)[0].dataOffset, 64u);
  EXPECT_EQ((*entries)[0].size, 3438u);
  EXPECT_EQ((*entries)[26].name, "pytorch_model/.data/serialization_id");
  EXPECT_EQ((*entries)[26].size, 40u);
  for (const ZipEntry &e : *entries)
    EXPECT_EQ(e.dataOffset % 64, 0u) << e.name;
}

//===----------------------------------------------------------------------===//
// Hand-built archives
//===----------------------------------------------------------------------===//

TEST_F(TorchZipFileTest, PlainDictWithNoneAndOffsets) {
  // {'w': FloatStorage '0' (6 floats) viewed as [2, 3], 'skip': None,
  //  'v': HalfStorage '1' (4 halves) from element 1 as [3]}.
  PickleWriter p;
  p.proto().emptyDict().mark();
  p.str("w").tensorV2("FloatStorage", "0", 6, 0, {2, 3}, {3, 1});
  p.str("skip").none();
  p.str("v").tensorV2("HalfStorage", "1", 4, 1, {3}, {1});
  p.setitems().stop();
  BuiltZip zip = buildTorchZip(
      p.bytes, {{"0", std::string(24, 'a')}, {"1", std::string(8, 'b')}});
  // Members: data.pkl, byteorder, data/0, data/1, version.
  llvm::Expected<CheckpointFile> cf = readBytes(zip.bytes);
  ASSERT_TRUE(bool(cf)) << llvm::toString(cf.takeError());
  ASSERT_EQ(cf->tensors.size(), 2u);
  const TensorInfo &w = cf->tensors[0];
  EXPECT_EQ(w.name, "w");
  EXPECT_EQ(w.dtype, DType::F32);
  EXPECT_EQ(w.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(w.strides, (std::vector<int64_t>{3, 1}));
  EXPECT_EQ(w.offset, zip.dataOffsets[2]);
  EXPECT_EQ(w.storageBytes, 24u);
  const TensorInfo &v = cf->tensors[1];
  EXPECT_EQ(v.name, "v");
  EXPECT_EQ(v.dtype, DType::F16);
  EXPECT_EQ(v.offset, zip.dataOffsets[3] + 2); // storage offset 1 * 2 bytes
  EXPECT_EQ(v.storageBytes, 8u - 2u);
}

TEST_F(TorchZipFileTest, OrderedDictWithMetadataAndLongMemo) {
  // torch.save(state_dict()) shape: OrderedDict() BINPUT; MARK name tensor
  // SETITEMS; then {'_metadata': OrderedDict {'': {'version': 1}}} BUILD.
  // Uses LONG_BINPUT/LONG_BINGET (memo index 300) for the rebuild function,
  // and a duplicate key 'a' whose later value wins at the first position.
  PickleWriter p;
  p.proto().orderedDict().put(0).mark();
  p.str("b").global("torch._utils", "_rebuild_tensor_v2");
  p.raw("r" + le32(300)); // LONG_BINPUT 300
  p.mark().storagePid("BFloat16Storage", "0", 2).persid();
  p.tensorTail(0, {2}, {1});
  p.str("a").raw("j" + le32(300)); // LONG_BINGET 300
  p.mark().storagePid("BFloat16Storage", "1", 1).persid();
  p.tensorTail(0, {}, {});
  p.str("a").none();
  p.setitems();
  p.emptyDict().str("_metadata").orderedDict();
  p.str("").emptyDict().str("version").int1(1).setitem().setitem();
  p.setitem().build().stop();
  llvm::Expected<CheckpointFile> cf =
      readPickle(p.bytes, {{"0", "abcd"}, {"1", "ef"}});
  ASSERT_TRUE(bool(cf)) << llvm::toString(cf.takeError());
  // 'a' is None in the end, so only 'b' is left.
  ASSERT_EQ(cf->tensors.size(), 1u);
  EXPECT_EQ(cf->tensors[0].name, "b");
  EXPECT_EQ(cf->tensors[0].dtype, DType::BF16);
}

TEST_F(TorchZipFileTest, DuplicateKeyKeepsFirstPosition) {
  // {'x': t0, 'y': t1, 'x': t2} == {'x': t2, 'y': t1} in Python.
  PickleWriter p;
  p.proto().emptyDict().mark();
  p.str("x").tensorV2("ByteStorage", "0", 4, 0, {1}, {1});
  p.str("y").tensorV2("ByteStorage", "1", 4, 0, {2}, {1});
  p.str("x").tensorV2("ByteStorage", "2", 4, 0, {3}, {1});
  p.setitems().stop();
  BuiltZip zip =
      buildTorchZip(p.bytes, {{"0", "aaaa"}, {"1", "bbbb"}, {"2", "cccc"}});
  llvm::Expected<CheckpointFile> cf = readBytes(zip.bytes);
  ASSERT_TRUE(bool(cf)) << llvm::toString(cf.takeError());
  ASSERT_EQ(cf->tensors.size(), 2u);
  EXPECT_EQ(cf->tensors[0].name, "x");
  EXPECT_EQ(cf->tensors[0].shape, std::vector<int64_t>{3});
  EXPECT_EQ(cf->tensors[0].offset, zip.dataOffsets[4]); // data/2
  EXPECT_EQ(cf->tensors[1].name, "y");
}

TEST_F(TorchZipFileTest, RebuildV3AndParameter) {
  // _rebuild_parameter(_rebuild_tensor_v3(UntypedStorage '0' (8 bytes), 2,
  // (3,), (2,), False, OrderedDict(), torch.float8_e4m3fn), False,
  // OrderedDict()).
  PickleWriter p;
  p.proto().emptyDict().str("p");
  p.global("torch._utils", "_rebuild_parameter").mark();
  p.global("torch._utils", "_rebuild_tensor_v3").mark();
  p.mark().str("storage").global("torch", "UntypedStorage").str("0");
  p.str("cpu").int4(8).tuple().persid();
  p.int4(2).intTuple({3}).intTuple({2}).newFalse().orderedDict();
  p.global("torch", "float8_e4m3fn").tuple().reduce();
  p.newFalse().orderedDict().tuple().reduce();
  p.setitem().stop();
  BuiltZip zip = buildTorchZip(p.bytes, {{"0", "01234567"}});
  llvm::Expected<CheckpointFile> cf = readBytes(zip.bytes);
  ASSERT_TRUE(bool(cf)) << llvm::toString(cf.takeError());
  ASSERT_EQ(cf->tensors.size(), 1u);
  const TensorInfo &t = cf->tensors[0];
  EXPECT_EQ(t.dtype, DType::F8E4M3FN);
  EXPECT_EQ(t.shape, std::vector<int64_t>{3});
  EXPECT_EQ(t.strides, std::vector<int64_t>{2});
  EXPECT_FALSE(t.isContiguous());
  EXPECT_EQ(t.offset, zip.dataOffsets[2] + 2);
  EXPECT_EQ(t.storageBytes, 6u);
  // Elements 2, 4, 6 of "01234567".
  std::string got(3, '\0');
  TensorReader reader;
  ASSERT_FALSE(bool(reader.read(t, got.data())));
  EXPECT_EQ(got, "246");
}

TEST_F(TorchZipFileTest, SharedStorageAndTransposedView) {
  // Storage '0' = 6 floats 0..5 = M[2][3] row-major. Three tensors share it:
  //   'embed'   = M            size (2,3) stride (3,1)
  //   'lm_head' = M (tied)     same view; pid fetched from the memo
  //   'mt'      = M transposed size (3,2) stride (1,3)
  //   'row1'    = M[1]         size (3,)  stride (1,), storage offset 3
  PickleWriter p;
  p.proto().emptyDict().mark();
  p.str("embed").global("torch._utils", "_rebuild_tensor_v2").put(0).mark();
  p.storagePid("FloatStorage", "0", 6).put(1).persid();
  p.tensorTail(0, {2, 3}, {3, 1});
  p.str("lm_head").get(0).mark().get(1).persid().tensorTail(0, {2, 3}, {3, 1});
  p.str("mt").get(0).mark().get(1).persid().tensorTail(0, {3, 2}, {1, 3});
  p.str("row1").get(0).mark().get(1).persid().tensorTail(3, {3}, {1});
  p.setitems().stop();
  BuiltZip zip =
      buildTorchZip(p.bytes, {{"0", floatBytes({0, 1, 2, 3, 4, 5})}});
  llvm::Expected<CheckpointFile> cf = readBytes(zip.bytes);
  ASSERT_TRUE(bool(cf)) << llvm::toString(cf.takeError());
  ASSERT_EQ(cf->tensors.size(), 4u);
  uint64_t record = zip.dataOffsets[2];
  for (const TensorInfo &t : cf->tensors)
    EXPECT_EQ(t.file, path);
  EXPECT_EQ(cf->tensors[0].offset, record);
  EXPECT_EQ(cf->tensors[1].offset, record);
  EXPECT_EQ(cf->tensors[2].offset, record);
  EXPECT_EQ(cf->tensors[2].strides, (std::vector<int64_t>{1, 3}));
  EXPECT_FALSE(cf->tensors[2].isContiguous());
  EXPECT_EQ(cf->tensors[3].offset, record + 12);
  EXPECT_EQ(cf->tensors[3].storageBytes, 12u);

  TensorReader reader;
  std::vector<float> embed(6), tied(6), mt(6), row1(3);
  ASSERT_FALSE(bool(reader.read(cf->tensors[0], embed.data())));
  ASSERT_FALSE(bool(reader.read(cf->tensors[1], tied.data())));
  ASSERT_FALSE(bool(reader.read(cf->tensors[2], mt.data())));
  ASSERT_FALSE(bool(reader.read(cf->tensors[3], row1.data())));
  EXPECT_EQ(embed, (std::vector<float>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(tied, embed);
  // M^T = [[0, 3], [1, 4], [2, 5]].
  EXPECT_EQ(mt, (std::vector<float>{0, 3, 1, 4, 2, 5}));
  EXPECT_EQ(row1, (std::vector<float>{3, 4, 5}));
  // Rows 1..3 of M^T.
  std::vector<float> mtRows(4);
  ASSERT_FALSE(bool(reader.readRows(cf->tensors[2], 1, 3, mtRows.data())));
  EXPECT_EQ(mtRows, (std::vector<float>{1, 4, 2, 5}));
}

//===----------------------------------------------------------------------===//
// Hostile containers
//===----------------------------------------------------------------------===//

/// A minimal valid pickle: {} .
const std::string kEmptyDictPickle = bytesOf("\x80\x02}.");

TEST_F(TorchZipFileTest, EmptyStateDict) {
  llvm::Expected<CheckpointFile> cf = readPickle(kEmptyDictPickle);
  ASSERT_TRUE(bool(cf)) << llvm::toString(cf.takeError());
  EXPECT_TRUE(cf->tensors.empty());
}

TEST_F(TorchZipFileTest, WithoutZip64Records) {
  BuiltZip z = buildZip({{"a/data.pkl", kEmptyDictPickle}}, /*zip64=*/false);
  llvm::Expected<CheckpointFile> cf = readBytes(z.bytes);
  ASSERT_TRUE(bool(cf)) << llvm::toString(cf.takeError());
}

TEST_F(TorchZipFileTest, CompressedEntry) {
  BuiltZip z = buildZip({{"archive/data.pkl", kEmptyDictPickle, 8}});
  EXPECT_EQ(errorOf(readBytes(z.bytes)),
            path + ": zip entry 'archive/data.pkl' is compressed (method 8); "
                   "only stored entries are supported");
}

TEST_F(TorchZipFileTest, OverlappingEntries) {
  BuiltZip z = buildTorchZip(kEmptyDictPickle, {{"0", "abcd"}});
  // Make data.pkl's central record claim a size that runs into the next
  // entry (byteorder): sizes at +20 (compressed) and +24 (uncompressed).
  uint32_t size = uint32_t(z.dataOffsets[1] - z.dataOffsets[0]);
  z.bytes.replace(z.centralOffsets[0] + 20, 4, le32(size));
  z.bytes.replace(z.centralOffsets[0] + 24, 4, le32(size));
  EXPECT_EQ(errorOf(readBytes(z.bytes)),
            path + ": zip entries 'archive/data.pkl' and 'archive/byteorder' "
                   "overlap");
}

TEST_F(TorchZipFileTest, TwoEntriesOnOneLocalHeader) {
  BuiltZip z = buildZip({{"a/data.pkl", kEmptyDictPickle}, {"a/x", "xyzw"}});
  // The second central record points at the first local header.
  z.bytes.replace(z.centralOffsets[1] + 42, 4, le32(0));
  EXPECT_EQ(errorOf(readBytes(z.bytes)),
            path + ": zip entry 'a/x' is named 'a/data.pkl' in its local "
                   "header");
}

TEST_F(TorchZipFileTest, EntryOverlapsCentralDirectory) {
  BuiltZip z = buildZip({{"a/data.pkl", kEmptyDictPickle}, {"a/x", "xyzw"}});
  // a/x's data starts at dataOffsets[1]; claim one byte past the directory.
  uint32_t size = uint32_t(z.cdOffset - z.dataOffsets[1] + 1);
  z.bytes.replace(z.centralOffsets[1] + 20, 4, le32(size));
  z.bytes.replace(z.centralOffsets[1] + 24, 4, le32(size));
  EXPECT_EQ(errorOf(readBytes(z.bytes)),
            path + ": zip entry 'a/x' data [" +
                std::to_string(z.dataOffsets[1]) + ", +" +
                std::to_string(size) + ") overlaps the central directory at " +
                std::to_string(z.cdOffset));
}

TEST_F(TorchZipFileTest, DuplicateEntryNames) {
  BuiltZip z = buildZip(
      {{"a/data.pkl", kEmptyDictPickle}, {"a/data.pkl", kEmptyDictPickle}});
  EXPECT_EQ(errorOf(readBytes(z.bytes)),
            path + ": duplicate zip entry 'a/data.pkl'");
}

TEST_F(TorchZipFileTest, TruncatedZip) {
  BuiltZip z = buildTorchZip(kEmptyDictPickle, {{"0", std::string(300, 'x')}});
  std::string cut = z.bytes.substr(0, z.bytes.size() / 2);
  EXPECT_EQ(errorOf(readBytes(cut)),
            path + ": truncated or not a zip archive (no end of central "
                   "directory record)");
  // The last 10 bytes missing: the end record is gone too.
  EXPECT_EQ(errorOf(readBytes(z.bytes.substr(0, z.bytes.size() - 10))),
            path + ": truncated or not a zip archive (no end of central "
                   "directory record)");
}

TEST_F(TorchZipFileTest, CentralDirectoryPastEnd) {
  BuiltZip z = buildZip({{"a/data.pkl", kEmptyDictPickle}}, /*zip64=*/false);
  // The classic end record is the last 22 bytes; cd offset at +16.
  size_t eocd = z.bytes.size() - 22;
  z.bytes.replace(eocd + 16, 4, le32(0x7fffffff));
  EXPECT_EQ(errorOf(readBytes(z.bytes)),
            path + ": central directory [2147483647, +" +
                std::to_string(z.cdSize) +
                ") runs past the end of the archive");
}

TEST_F(TorchZipFileTest, EntryCountTooLarge) {
  BuiltZip z = buildZip({{"a/data.pkl", kEmptyDictPickle}}, /*zip64=*/false);
  size_t eocd = z.bytes.size() - 22;
  z.bytes.replace(eocd + 8, 2, le16(1000));
  z.bytes.replace(eocd + 10, 2, le16(1000));
  EXPECT_EQ(errorOf(readBytes(z.bytes)), path + ": central directory of " +
                                             std::to_string(z.cdSize) +
                                             " bytes cannot hold 1000 entries");
}

TEST_F(TorchZipFileTest, NotInSubdirectory) {
  BuiltZip z = buildZip({{"data.pkl", kEmptyDictPickle}});
  EXPECT_EQ(errorOf(readBytes(z.bytes)),
            path + ": file in archive is not in a subdirectory: 'data.pkl'");
}

TEST_F(TorchZipFileTest, MissingDataPkl) {
  BuiltZip z = buildZip({{"a/version", "3\n"}});
  EXPECT_EQ(errorOf(readBytes(z.bytes)),
            path + ": archive has no record 'a/data.pkl'");
}

TEST_F(TorchZipFileTest, BigEndian) {
  BuiltZip z = buildTorchZip(kEmptyDictPickle, {}, "archive", "big");
  EXPECT_EQ(errorOf(readBytes(z.bytes)),
            path + ": big-endian checkpoints are not supported");
}

TEST_F(TorchZipFileTest, LegacyMagic) {
  // pickle(0x1950A86A20F9469CFC6C), pickle(1001), ...
  std::string legacy =
      bytesOf("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19."
              "\x80\x02M\xe9\x03.");
  EXPECT_EQ(errorOf(readBytes(legacy)),
            path + ": unsupported legacy PyTorch format; re-save with "
                   "torch>=1.6");
}

TEST_F(TorchZipFileTest, LegacyTar) {
  std::string tar = inputPath("loaders/legacy-torch.tar");
  EXPECT_EQ(errorOf(readTorchZipHeader(tar)),
            tar + ": unsupported legacy PyTorch format; re-save with "
                  "torch>=1.6");
}

TEST_F(TorchZipFileTest, NotAZip) {
  EXPECT_EQ(errorOf(readBytes("hello, world")),
            path + ": not a PyTorch zip checkpoint (no zip signature)");
  EXPECT_EQ(errorOf(readBytes("")),
            path + ": not a PyTorch zip checkpoint (no zip signature)");
}

} // namespace

//===- CheckpointTest.cpp - Checkpoint discovery and index tests ---------===//
//
// Part of quant-opt.
//
//===----------------------------------------------------------------------===//

#include "qopt/Loaders/Checkpoint.h"

#include "LoaderTestUtil.h"

#include <gtest/gtest.h>

#include <filesystem>

using namespace qopt::loaders;
using namespace qopt::loaders::test;
using qopt::numerics::DType;

namespace {

// Lexicographic byte order of the llama tensor names (safetensors order).
const char *const kSortedNames[] = {
    "lm_head.weight",
    "model.embed_tokens.weight",
    "model.layers.0.input_layernorm.weight",
    "model.layers.0.mlp.down_proj.weight",
    "model.layers.0.mlp.gate_proj.weight",
    "model.layers.0.mlp.up_proj.weight",
    "model.layers.0.post_attention_layernorm.weight",
    "model.layers.0.self_attn.k_proj.weight",
    "model.layers.0.self_attn.o_proj.weight",
    "model.layers.0.self_attn.q_proj.weight",
    "model.layers.0.self_attn.v_proj.weight",
    "model.layers.1.input_layernorm.weight",
    "model.layers.1.mlp.down_proj.weight",
    "model.layers.1.mlp.gate_proj.weight",
    "model.layers.1.mlp.up_proj.weight",
    "model.layers.1.post_attention_layernorm.weight",
    "model.layers.1.self_attn.k_proj.weight",
    "model.layers.1.self_attn.o_proj.weight",
    "model.layers.1.self_attn.q_proj.weight",
    "model.layers.1.self_attn.v_proj.weight",
    "model.norm.weight",
};

// The state-dict order of the .bin fixtures, which is also the key order of
// llama-fp16-bin-sharded/pytorch_model.bin.index.json.
const char *const kModuleOrder[] = {
    "model.embed_tokens.weight",
    "model.layers.0.self_attn.q_proj.weight",
    "model.layers.0.self_attn.k_proj.weight",
    "model.layers.0.self_attn.v_proj.weight",
    "model.layers.0.self_attn.o_proj.weight",
    "model.layers.0.mlp.gate_proj.weight",
    "model.layers.0.mlp.up_proj.weight",
    "model.layers.0.mlp.down_proj.weight",
    "model.layers.0.input_layernorm.weight",
    "model.layers.0.post_attention_layernorm.weight",
    "model.layers.1.self_attn.q_proj.weight",
    "model.layers.1.self_attn.k_proj.weight",
    "model.layers.1.self_attn.v_proj.weight",
    "model.layers.1.self_attn.o_proj.weight",
    "model.layers.1.mlp.gate_proj.weight",
    "model.layers.1.mlp.up_proj.weight",
    "model.layers.1.mlp.down_proj.weight",
    "model.layers.1.input_layernorm.weight",
    "model.layers.1.post_attention_layernorm.weight",
    "model.norm.weight",
    "lm_head.weight",
};

void copyFile(const std::string &from, const std::string &to) {
  std::filesystem::copy_file(from, to,
                             std::filesystem::copy_options::overwrite_existing);
}

TEST(CheckpointTest, SafetensorsDirectory) {
  std::string dir = inputPath("llama-bf16-st");
  std::string file = dir + "/model.safetensors";
  llvm::Expected<Checkpoint> ckpt = openCheckpoint(dir, SourceFormat::Auto);
  ASSERT_TRUE(bool(ckpt)) << llvm::toString(ckpt.takeError());
  EXPECT_EQ(ckpt->format, SourceFormat::HFSafetensors);
  EXPECT_EQ(ckpt->indexPath, "");
  ASSERT_EQ(ckpt->torchToPath.size(), std::size(kSortedNames));
  for (size_t i = 0; i < std::size(kSortedNames); ++i) {
    EXPECT_EQ(ckpt->torchToPath[i].first, kSortedNames[i]);
    EXPECT_EQ(ckpt->torchToPath[i].second, file);
  }
  ASSERT_EQ(ckpt->files.size(), 1u);
  EXPECT_EQ(ckpt->files.begin()->first, file);
  const TensorInfo *norm = ckpt->find("model.norm.weight");
  ASSERT_NE(norm, nullptr);
  EXPECT_EQ(norm->offset, 2192u + 852992u);
  EXPECT_EQ(norm->dtype, DType::BF16);
  EXPECT_EQ(ckpt->find("model.norm"), nullptr);
  EXPECT_TRUE(ckpt->warnings.empty());
}

TEST(CheckpointTest, ShardedBinDirectory) {
  std::string dir = inputPath("llama-fp16-bin-sharded");
  std::string shard1 = dir + "/pytorch_model-00001-of-00002.bin";
  std::string shard2 = dir + "/pytorch_model-00002-of-00002.bin";
  llvm::Expected<Checkpoint> ckpt = openCheckpoint(dir, SourceFormat::Auto);
  ASSERT_TRUE(bool(ckpt)) << llvm::toString(ckpt.takeError());
  EXPECT_EQ(ckpt->format, SourceFormat::HFTorch);
  EXPECT_EQ(ckpt->indexPath, dir + "/pytorch_model.bin.index.json");
  ASSERT_EQ(ckpt->torchToPath.size(), std::size(kModuleOrder));
  for (size_t i = 0; i < std::size(kModuleOrder); ++i) {
    EXPECT_EQ(ckpt->torchToPath[i].first, kModuleOrder[i]);
    // The index maps the first 10 names to shard 1, the rest to shard 2.
    EXPECT_EQ(ckpt->torchToPath[i].second, i < 10 ? shard1 : shard2);
  }
  EXPECT_EQ(ckpt->files.size(), 2u);
  const TensorInfo *head = ckpt->find("lm_head.weight");
  ASSERT_NE(head, nullptr);
  EXPECT_EQ(head->file, shard2);
  EXPECT_EQ(head->dtype, DType::F16);
  EXPECT_EQ(head->shape, (std::vector<int64_t>{512, 128}));
  EXPECT_EQ(head->offset, 298752u);
  EXPECT_TRUE(ckpt->warnings.empty());

  // The same through the index file itself.
  llvm::Expected<Checkpoint> viaIndex =
      openCheckpoint(dir + "/pytorch_model.bin.index.json", SourceFormat::Auto);
  ASSERT_TRUE(bool(viaIndex)) << llvm::toString(viaIndex.takeError());
  EXPECT_EQ(viaIndex->torchToPath, ckpt->torchToPath);
  EXPECT_EQ(viaIndex->format, SourceFormat::HFTorch);
}

TEST(CheckpointTest, SingleBinFileKeepsStateDictOrder) {
  std::string file = inputPath("llama-fp32-bin/pytorch_model.bin");
  for (const std::string &source : {inputPath("llama-fp32-bin"), file}) {
    llvm::Expected<Checkpoint> ckpt =
        openCheckpoint(source, SourceFormat::Auto);
    ASSERT_TRUE(bool(ckpt)) << llvm::toString(ckpt.takeError());
    EXPECT_EQ(ckpt->format, SourceFormat::HFTorch);
    ASSERT_EQ(ckpt->torchToPath.size(), std::size(kModuleOrder));
    for (size_t i = 0; i < std::size(kModuleOrder); ++i) {
      EXPECT_EQ(ckpt->torchToPath[i].first, kModuleOrder[i]);
      EXPECT_EQ(ckpt->torchToPath[i].second, file);
    }
  }
}

TEST(CheckpointTest, ExplicitFormatRestrictsSearch) {
  std::string dir = inputPath("llama-bf16-st");
  EXPECT_EQ(errorOf(openCheckpoint(dir, SourceFormat::HFTorch)),
            dir + ": no huggingface-torch checkpoint found; looked for "
                  "pytorch_model.bin.index.json, pytorch_model.bin, *.bin");
  llvm::Expected<Checkpoint> awq = openCheckpoint(dir, SourceFormat::AWQ);
  ASSERT_TRUE(bool(awq)) << llvm::toString(awq.takeError());
  EXPECT_EQ(awq->format, SourceFormat::AWQ);
  EXPECT_EQ(awq->torchToPath.size(), 21u);
}

TEST(CheckpointTest, NothingFound) {
  std::string dir = scratchDir("NothingFound");
  EXPECT_EQ(errorOf(openCheckpoint(dir, SourceFormat::Auto)),
            dir + ": no checkpoint found; looked for "
                  "pytorch_model.bin.index.json, pytorch_model.bin, "
                  "model.safetensors.index.json, model.safetensors, "
                  "*.safetensors, *.bin, *.gguf");
  EXPECT_EQ(errorOf(openCheckpoint(dir, SourceFormat::GGUF)),
            dir + ": no gguf checkpoint found; looked for *.gguf");
  EXPECT_EQ(errorOf(openCheckpoint(dir + "/absent", SourceFormat::Auto)),
            dir + "/absent: no such file or directory");
}

// mlc_llm's auto_weight.py checks huggingface-torch before
// huggingface-safetensor, so a directory with both converts from the .bin.
TEST(CheckpointTest, BinPreferredOverSafetensorsAsInMLC) {
  std::string dir = scratchDir("BinPreferredOverSafetensors");
  copyFile(inputPath("llama-fp32-bin/pytorch_model.bin"),
           dir + "/pytorch_model.bin");
  copyFile(inputPath("llama-bf16-st/model.safetensors"),
           dir + "/model.safetensors");
  llvm::Expected<Checkpoint> ckpt = openCheckpoint(dir, SourceFormat::Auto);
  ASSERT_TRUE(bool(ckpt)) << llvm::toString(ckpt.takeError());
  EXPECT_EQ(ckpt->format, SourceFormat::HFTorch);
  EXPECT_EQ(ckpt->torchToPath.front().second, dir + "/pytorch_model.bin");
  llvm::Expected<Checkpoint> st =
      openCheckpoint(dir, SourceFormat::HFSafetensors);
  ASSERT_TRUE(bool(st)) << llvm::toString(st.takeError());
  EXPECT_EQ(st->torchToPath.front().second, dir + "/model.safetensors");
}

TEST(CheckpointTest, LoneFilesOfAKnownExtension) {
  std::string dir = scratchDir("LoneFiles");
  copyFile(inputPath("llama-bf16-st/model.safetensors"),
           dir + "/b.safetensors");
  llvm::Expected<Checkpoint> ckpt = openCheckpoint(dir, SourceFormat::Auto);
  ASSERT_TRUE(bool(ckpt)) << llvm::toString(ckpt.takeError());
  EXPECT_EQ(ckpt->torchToPath.front().second, dir + "/b.safetensors");
  copyFile(inputPath("llama-bf16-st/model.safetensors"),
           dir + "/a.safetensors");
  EXPECT_EQ(errorOf(openCheckpoint(dir, SourceFormat::Auto)),
            dir + ": found several *.safetensors files (a.safetensors, "
                  "b.safetensors) and no index naming them");
}

// A directory's lone *.gguf goes to the GGUF reader (GgufTest.cpp).
TEST(CheckpointTest, GgufGoesToTheGgufReader) {
  std::string dir = scratchDir("Gguf");
  writeFile(dir + "/m.gguf", "GGUF\x03");
  EXPECT_EQ(errorOf(openCheckpoint(dir, SourceFormat::GGUF)),
            dir + "/m.gguf: truncated: the version at offset 4 needs 4 bytes, "
                  "but the file has 5");
}

TEST(CheckpointTest, FormatNames) {
  for (SourceFormat f :
       {SourceFormat::Auto, SourceFormat::HFSafetensors, SourceFormat::HFTorch,
        SourceFormat::GGUF, SourceFormat::AWQ})
    EXPECT_EQ(parseSourceFormat(sourceFormatName(f)), f);
  EXPECT_EQ(sourceFormatName(SourceFormat::HFTorch), "huggingface-torch");
  EXPECT_EQ(sourceFormatName(SourceFormat::HFSafetensors),
            "huggingface-safetensor");
  EXPECT_EQ(parseSourceFormat("pytorch"), std::nullopt);
}

//===----------------------------------------------------------------------===//
// Index files
//===----------------------------------------------------------------------===//

/// A scratch copy of the sharded .bin checkpoint with a custom index.
class IndexTest : public ::testing::Test {
protected:
  void SetUp() override {
    dir = scratchDir(
        "Index" +
        std::string(
            ::testing::UnitTest::GetInstance()->current_test_info()->name()));
    shard1 = dir + "/pytorch_model-00001-of-00002.bin";
    shard2 = dir + "/pytorch_model-00002-of-00002.bin";
    copyFile(
        inputPath("llama-fp16-bin-sharded/pytorch_model-00001-of-00002.bin"),
        shard1);
    copyFile(
        inputPath("llama-fp16-bin-sharded/pytorch_model-00002-of-00002.bin"),
        shard2);
    index = dir + "/pytorch_model.bin.index.json";
  }
  /// {"weight_map": {name: file, ...}} from the standard map with edits.
  std::string standardMap(size_t skipLast = 0, const std::string &extra = "") {
    std::string json = "{\"metadata\": {\"total_size\": 853248}, "
                       "\"weight_map\": {";
    size_t n = std::size(kModuleOrder) - skipLast;
    for (size_t i = 0; i < n; ++i)
      json += std::string(i ? ", " : "") + "\"" + kModuleOrder[i] +
              "\": \"pytorch_model-0000" + (i < 10 ? "1" : "2") +
              "-of-00002.bin\"";
    return json + extra + "}}";
  }
  std::string openError(const std::string &json) {
    writeFile(index, json);
    return errorOf(openCheckpoint(dir, SourceFormat::Auto));
  }
  std::string dir, shard1, shard2, index;
};

TEST_F(IndexTest, WeightMapKeepsFileOrder) {
  writeFile(index, "{\"weight_map\": {\"z\": \"b.bin\", \"a\": \"a.bin\", "
                   "\"m\": \"sub/b.bin\"}}");
  llvm::Expected<std::vector<WeightMapEntry>> map = readWeightMap(index);
  ASSERT_TRUE(bool(map)) << llvm::toString(map.takeError());
  ASSERT_EQ(map->size(), 3u);
  EXPECT_EQ((*map)[0].tensor, "z");
  EXPECT_EQ((*map)[0].file, dir + "/b.bin");
  EXPECT_EQ((*map)[1].tensor, "a");
  EXPECT_EQ((*map)[1].file, dir + "/a.bin");
  EXPECT_EQ((*map)[2].tensor, "m");
  EXPECT_EQ((*map)[2].file, dir + "/sub/b.bin");
}

TEST_F(IndexTest, UnmappedTensorIsAWarning) {
  // The map omits lm_head.weight (the last name), which shard 2 holds.
  writeFile(index, standardMap(1));
  llvm::Expected<Checkpoint> ckpt = openCheckpoint(dir, SourceFormat::Auto);
  ASSERT_TRUE(bool(ckpt)) << llvm::toString(ckpt.takeError());
  EXPECT_EQ(ckpt->torchToPath.size(), 20u);
  EXPECT_EQ(ckpt->find("lm_head.weight"), nullptr);
  ASSERT_NE(ckpt->find("model.norm.weight"), nullptr);
  EXPECT_EQ(ckpt->warnings,
            std::vector<std::string>{shard2 +
                                     ": tensor 'lm_head.weight' is not "
                                     "mapped to this file by " +
                                     index + "; ignored"});
}

TEST_F(IndexTest, MissingShard) {
  EXPECT_EQ(openError(standardMap(
                0, ", \"extra.weight\": \"pytorch_model-00003-of-00002.bin\"")),
            index + ": weight_map names " + dir +
                "/pytorch_model-00003-of-00002.bin (for tensor "
                "'extra.weight'), which does not exist");
}

TEST_F(IndexTest, TensorNotInItsFile) {
  // lm_head.weight is in shard 2 but mapped to shard 1.
  std::string json = standardMap(1, ", \"lm_head.weight\": "
                                    "\"pytorch_model-00001-of-00002.bin\"");
  EXPECT_EQ(openError(json), index + ": tensor 'lm_head.weight' mapped to " +
                                 shard1 + " is not in that file");
}

TEST_F(IndexTest, DuplicateTensor) {
  EXPECT_EQ(openError(standardMap(0, ", \"lm_head.weight\": "
                                     "\"pytorch_model-00002-of-00002.bin\"")),
            index + ": duplicate tensor name 'lm_head.weight' in weight_map");
}

TEST_F(IndexTest, PathsMustStayInside) {
  EXPECT_EQ(openError("{\"weight_map\": {\"x\": \"/etc/passwd\"}}"),
            index + ": weight_map file '/etc/passwd' for tensor 'x' is not a "
                    "relative path inside the checkpoint directory");
  EXPECT_EQ(openError("{\"weight_map\": {\"x\": \"../other/a.bin\"}}"),
            index + ": weight_map file '../other/a.bin' for tensor 'x' is not "
                    "a relative path inside the checkpoint directory");
}

TEST_F(IndexTest, MalformedIndex) {
  EXPECT_EQ(openError("{\"weight_map\": {\"x\": 3}}"),
            index + ": weight_map value for tensor 'x' is not a string");
  EXPECT_EQ(openError("{\"metadata\": {}}"),
            index + ": missing 'weight_map' object");
  EXPECT_EQ(openError("[]"), index + ": expected a JSON object");
  // '{' '"' 'w' ... the parser fails at the 14th byte (the '}').
  EXPECT_EQ(openError("{\"weight_map\"}"),
            index + ": is not valid JSON (error at byte 14, line 1, column 14)");
}

TEST_F(IndexTest, ShardThatDoesNotParse) {
  writeFile(shard2, "not a zip");
  writeFile(index, standardMap());
  EXPECT_EQ(errorOf(openCheckpoint(dir, SourceFormat::Auto)),
            shard2 + ": not a PyTorch zip checkpoint (no zip signature)");
}

} // namespace

namespace {

/// What scanCheckpoint handed over for one file.
struct Visit {
  std::string path;
  std::vector<size_t> positions;
  std::vector<std::string> names;
  size_t headerTensors = 0;
};

TEST_F(IndexTest, ScanHandsOverOneHeaderAtATime) {
  // Shards alternate in the map: torch_to_path positions 0, 2, 4, ... are
  // shard 1's tensors, 1, 3, 5, ... shard 2's (then the rest of shard 2).
  const char *const one[] = {"model.embed_tokens.weight",
                             "model.layers.0.self_attn.q_proj.weight"};
  const char *const two[] = {"model.layers.1.self_attn.q_proj.weight",
                             "model.norm.weight", "lm_head.weight"};
  const std::string f1 = "pytorch_model-00001-of-00002.bin",
                    f2 = "pytorch_model-00002-of-00002.bin";
  writeFile(index, std::string("{\"weight_map\": {") + "\"" + one[0] +
                       "\": \"" + f1 + "\", \"" + two[0] + "\": \"" + f2 +
                       "\", \"" + one[1] + "\": \"" + f1 + "\", \"" + two[1] +
                       "\": \"" + f2 + "\", \"" + two[2] + "\": \"" + f2 +
                       "\"}}");
  llvm::Expected<CheckpointLocation> where =
      locateCheckpoint(dir, SourceFormat::Auto);
  ASSERT_TRUE(bool(where)) << llvm::toString(where.takeError());
  EXPECT_TRUE(where->isIndex);
  EXPECT_EQ(where->path, index);
  std::vector<Visit> visits;
  llvm::Expected<CheckpointScan> scan = scanCheckpoint(
      *where, {}, [&](CheckpointFile &file, llvm::ArrayRef<MappedTensor> m) {
        Visit v{file.path, {}, {}, file.tensors.size()};
        for (const MappedTensor &t : m) {
          v.positions.push_back(t.position);
          v.names.push_back(t.tensor->name);
          // The tensor is the header's own record.
          EXPECT_GE(t.tensor, file.tensors.data());
          EXPECT_LT(t.tensor, file.tensors.data() + file.tensors.size());
        }
        visits.push_back(v);
        // The callee may take the header (openCheckpoint does).
        CheckpointFile taken = std::move(file);
        return llvm::Error::success();
      });
  ASSERT_TRUE(bool(scan)) << llvm::toString(scan.takeError());
  ASSERT_EQ(visits.size(), 2u);
  EXPECT_EQ(visits[0].path, shard1);
  EXPECT_EQ(visits[0].positions, (std::vector<size_t>{0, 2}));
  EXPECT_EQ(visits[0].names, (std::vector<std::string>{one[0], one[1]}));
  EXPECT_EQ(visits[1].path, shard2);
  EXPECT_EQ(visits[1].positions, (std::vector<size_t>{1, 3, 4}));
  EXPECT_EQ(visits[1].names,
            (std::vector<std::string>{two[0], two[1], two[2]}));
  EXPECT_EQ(scan->mappedTensors, 5u);
  // Every tensor of both files counts (21), mapped or not; 16 are not
  // mapped, each a warning in path order.
  EXPECT_EQ(visits[0].headerTensors + visits[1].headerTensors, 21u);
  EXPECT_EQ(scan->fileTensors, 21u);
  ASSERT_EQ(scan->warnings.size(), 16u);
  EXPECT_EQ(scan->warnings.front().rfind(shard1 + ": tensor '", 0), 0u);
  EXPECT_EQ(scan->warnings.back().rfind(shard2 + ": tensor '", 0), 0u);
  // openCheckpoint, the same scan keeping the headers, in map order.
  llvm::Expected<Checkpoint> ckpt = openCheckpoint(dir, SourceFormat::Auto);
  ASSERT_TRUE(bool(ckpt)) << llvm::toString(ckpt.takeError());
  ASSERT_EQ(ckpt->torchToPath.size(), 5u);
  EXPECT_EQ(ckpt->torchToPath[1],
            (std::pair<std::string, std::string>{two[0], shard2}));
  EXPECT_EQ(ckpt->torchToPath[2],
            (std::pair<std::string, std::string>{one[1], shard1}));
  EXPECT_EQ(ckpt->warnings, scan->warnings);
}

TEST_F(IndexTest, ScanStopsHandingOverAtAMissingTensor) {
  // lm_head.weight is in shard 2 but mapped to shard 1: shard 1 is checked
  // before anything of it is handed over, shard 2 is then only parsed.
  std::string json = standardMap(1, ", \"lm_head.weight\": "
                                    "\"pytorch_model-00001-of-00002.bin\"");
  writeFile(index, json);
  llvm::Expected<CheckpointLocation> where =
      locateCheckpoint(dir, SourceFormat::Auto);
  ASSERT_TRUE(bool(where)) << llvm::toString(where.takeError());
  unsigned visits = 0;
  llvm::Expected<CheckpointScan> scan =
      scanCheckpoint(*where, {}, [&](CheckpointFile &, auto) {
        ++visits;
        return llvm::Error::success();
      });
  EXPECT_EQ(errorOf(std::move(scan)), index +
                                          ": tensor 'lm_head.weight' mapped "
                                          "to " +
                                          shard1 + " is not in that file");
  EXPECT_EQ(visits, 0u);
  // A shard that does not parse still wins over the missing tensor, as in
  // openCheckpoint.
  writeFile(shard2, "not a zip");
  EXPECT_EQ(errorOf(scanCheckpoint(*where, {},
                                   [&](CheckpointFile &, auto) {
                                     ++visits;
                                     return llvm::Error::success();
                                   })),
            shard2 + ": not a PyTorch zip checkpoint (no zip signature)");
  EXPECT_EQ(visits, 0u);
}

TEST_F(IndexTest, IndexWithoutDomKeepsItsChecks) {
  // The weight map's sink ignores everything but weight_map's members:
  // nested values elsewhere are checked (duplicates) but not kept.
  writeFile(index, "{\"metadata\": {\"a\": {\"weight_map\": 1}}, "
                   "\"weight_map\": {\"x\": \"a.bin\", \"y\": \"./a.bin\"}}");
  llvm::Expected<std::vector<WeightMapEntry>> map = readWeightMap(index);
  ASSERT_TRUE(bool(map)) << llvm::toString(map.takeError());
  ASSERT_EQ(map->size(), 2u);
  EXPECT_EQ((*map)[0].file, dir + "/a.bin");
  EXPECT_EQ((*map)[1].file, dir + "/a.bin");
  writeFile(index, "{\"weight_map\": {\"x\": [\"a.bin\"]}}");
  EXPECT_EQ(errorOf(readWeightMap(index)),
            index + ": weight_map value for tensor 'x' is not a string");
  writeFile(index, "{\"weight_map\": [\"a.bin\"]}");
  EXPECT_EQ(errorOf(readWeightMap(index)),
            index + ": missing 'weight_map' object");
  writeFile(index, "{\"m\": {\"k\": 1, \"k\": 2}, \"weight_map\": {}}");
  EXPECT_EQ(errorOf(readWeightMap(index)),
            index + ": duplicate key 'k' in 'm'");
  writeFile(index, "\"weight_map\"");
  EXPECT_EQ(errorOf(readWeightMap(index)), index + ": expected a JSON object");
}

} // namespace

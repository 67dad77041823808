//===- GgufViewTest.cpp - GGUF files through the architecture hooks ------===//
//
// Part of quant-opt.
//
// The Hugging Face view of llama.cpp's GGUF files that the model
// definitions give (qopt/Models/Gguf.h): tensor names, config.json from the
// metadata, the permuted q/k rows, and reading the tensors of that view.
// Files are built byte by byte by GgufBuilder (GgufTestUtil.h).
//
//===----------------------------------------------------------------------===//

#include "qopt/Loaders/Gguf.h"
#include "qopt/Loaders/TensorReader.h"
#include "qopt/Models/Gguf.h"

#include "../Loaders/GgufTestUtil.h"

#include <gtest/gtest.h>

using namespace qopt::loaders;
using namespace qopt::loaders::test;
using qopt::models::ggufCheckpointFile;
using qopt::models::ggufModelConfig;
using qopt::models::readGgufCheckpoint;
using qopt::numerics::DType;

namespace {

/// The llama definition's name for a GGUF tensor name.
std::optional<std::string> ggufToHfName(llvm::StringRef name) {
  return qopt::models::ggufToHfName("llama", name);
}

//===----------------------------------------------------------------------===//
// The Llama view
//===----------------------------------------------------------------------===//

TEST(GgufTest, HfNames) {
  struct Row {
    const char *gguf, *hf;
  } rows[] = {
      {"token_embd.weight", "model.embed_tokens.weight"},
      {"output_norm.weight", "model.norm.weight"},
      {"output.weight", "lm_head.weight"},
      {"blk.0.attn_norm.weight", "model.layers.0.input_layernorm.weight"},
      {"blk.0.attn_q.weight", "model.layers.0.self_attn.q_proj.weight"},
      {"blk.12.attn_k.weight", "model.layers.12.self_attn.k_proj.weight"},
      {"blk.3.attn_v.weight", "model.layers.3.self_attn.v_proj.weight"},
      {"blk.3.attn_q.bias", "model.layers.3.self_attn.q_proj.bias"},
      {"blk.3.attn_output.weight", "model.layers.3.self_attn.o_proj.weight"},
      {"blk.7.ffn_norm.weight",
       "model.layers.7.post_attention_layernorm.weight"},
      {"blk.7.ffn_gate.weight", "model.layers.7.mlp.gate_proj.weight"},
      {"blk.7.ffn_up.weight", "model.layers.7.mlp.up_proj.weight"},
      {"blk.10.ffn_down.weight", "model.layers.10.mlp.down_proj.weight"},
  };
  for (const Row &r : rows)
    EXPECT_EQ(ggufToHfName(r.gguf), std::optional<std::string>(r.hf)) << r.gguf;
  for (const char *none :
       {"rope_freqs.weight", "blk.01.attn_q.weight", "blk.x.attn_q.weight",
        "blk..attn_q.weight", "blk.0.attn_norm.bias", "blk.0.attn_q",
        "blk.0.ffn_gate_inp.weight", "blk.0.ffn_gate_exps.weight",
        "token_embd.bias", "blk.0"})
    EXPECT_EQ(ggufToHfName(none), std::nullopt) << none;
}

llvm::Expected<nlohmann::json> configOf(GgufBuilder &b) {
  llvm::Expected<GgufFile> f = parseGguf("m.gguf", b.build());
  if (!f)
    return f.takeError();
  return ggufModelConfig(*f);
}

TEST(GgufTest, ConfigFromMetadata) {
  GgufBuilder b = llamaBuilder();
  b.u32("tokenizer.ggml.bos_token_id", 1);
  b.tensor("output.weight", {8, 40}, 0, std::string(8 * 40 * 4, '\0'));
  llvm::Expected<nlohmann::json> cfg = configOf(b);
  ASSERT_TRUE(bool(cfg)) << llvm::toString(cfg.takeError());
  // The f32 epsilon 1e-5 prints as its shortest decimal.
  nlohmann::json expected = nlohmann::json::parse(R"({
    "architectures": ["LlamaForCausalLM"], "model_type": "llama",
    "hidden_size": 8, "intermediate_size": 16, "num_hidden_layers": 2,
    "max_position_embeddings": 64, "num_attention_heads": 2,
    "num_key_value_heads": 1, "rms_norm_eps": 1e-05,
    "rope_theta": 500000.0, "vocab_size": 40, "tie_word_embeddings": false,
    "bos_token_id": 1})");
  EXPECT_EQ(*cfg, expected) << cfg->dump();
}

TEST(GgufTest, ConfigDefaultsAndFallbacks) {
  // No head_count_kv (= head_count), no freq_base (10000), no vocab_size
  // (the token list's length), key_length -> head_dim, no output.weight
  // (tied), per-layer arrays of equal values, linear rope scaling.
  GgufBuilder b;
  b.str("general.architecture", "llama")
      .u32("llama.context_length", 64)
      .u32("llama.embedding_length", 8)
      .u32("llama.block_count", 2)
      .raw("llama.feed_forward_length", 9,
           le32(4) + le64(2) + le32(16) + le32(16))
      .raw("llama.attention.head_count", 10, le64(2))
      .f32("llama.attention.layer_norm_rms_epsilon", 1e-6f)
      .u32("llama.attention.key_length", 6)
      .str("llama.rope.scaling.type", "linear")
      .f32("llama.rope.scaling.factor", 4.0f)
      .raw("tokenizer.ggml.tokens", 9,
           le32(8) + le64(3) + ggufStr("a") + ggufStr("b") + ggufStr("c"));
  llvm::Expected<nlohmann::json> cfg = configOf(b);
  ASSERT_TRUE(bool(cfg)) << llvm::toString(cfg.takeError());
  EXPECT_EQ((*cfg)["intermediate_size"], 16);
  EXPECT_EQ((*cfg)["num_attention_heads"], 2);
  EXPECT_EQ((*cfg)["num_key_value_heads"], 2);
  EXPECT_EQ((*cfg)["rope_theta"], 10000.0);
  EXPECT_EQ((*cfg)["rms_norm_eps"], 1e-06);
  EXPECT_EQ((*cfg)["vocab_size"], 3);
  EXPECT_EQ((*cfg)["head_dim"], 6);
  EXPECT_EQ((*cfg)["tie_word_embeddings"], true);
  EXPECT_EQ((*cfg)["rope_scaling"],
            nlohmann::json::parse(
                R"({"type": "linear", "rope_type": "linear", "factor": 4.0})"));

  // Without tokens: token_embd's ne[1].
  GgufBuilder c = llamaBuilder();
  c.kvs.clear();
  c.kvCount = 0;
  c.str("general.architecture", "llama")
      .u32("llama.context_length", 64)
      .u32("llama.embedding_length", 8)
      .u32("llama.block_count", 2)
      .u32("llama.feed_forward_length", 16)
      .u32("llama.attention.head_count", 2)
      .f32("llama.attention.layer_norm_rms_epsilon", 1e-6f);
  c.tensor("token_embd.weight", {8, 24}, 0, std::string(8 * 24 * 4, '\0'));
  llvm::Expected<nlohmann::json> cfg2 = configOf(c);
  ASSERT_TRUE(bool(cfg2)) << llvm::toString(cfg2.takeError());
  EXPECT_EQ((*cfg2)["vocab_size"], 24);
}

TEST(GgufTest, ConfigErrors) {
  {
    GgufBuilder b;
    b.str("general.architecture", "qwen2");
    EXPECT_EQ(errorOf(configOf(b)),
              "m.gguf: GGUF architecture 'qwen2' is not supported (supported: "
              "llama)");
  }
  {
    GgufBuilder b;
    b.u32("llama.block_count", 2);
    EXPECT_EQ(errorOf(configOf(b)),
              "m.gguf: missing metadata key 'general.architecture'");
  }
  {
    GgufBuilder b;
    b.u32("general.architecture", 1);
    EXPECT_EQ(errorOf(configOf(b)),
              "m.gguf: metadata key 'general.architecture' has type UINT32, "
              "expected STRING");
  }
  {
    GgufBuilder b = llamaBuilder();
    b.u32("llama.expert_count", 8);
    EXPECT_EQ(errorOf(configOf(b)),
              "m.gguf: mixture-of-experts GGUF files (llama.expert_count = 8) "
              "are not supported");
  }
  {
    GgufBuilder b;
    b.str("general.architecture", "llama").u32("llama.context_length", 64);
    EXPECT_EQ(errorOf(configOf(b)),
              "m.gguf: missing metadata key 'llama.embedding_length'");
  }
  {
    GgufBuilder b;
    b.str("general.architecture", "llama").str("llama.embedding_length", "64");
    EXPECT_EQ(errorOf(configOf(b)),
              "m.gguf: metadata key 'llama.embedding_length' has type STRING, "
              "expected an integer");
  }
  {
    GgufBuilder b;
    b.str("general.architecture", "llama")
        .raw("llama.embedding_length", 5, le32(uint32_t(-4)));
    EXPECT_EQ(errorOf(configOf(b)),
              "m.gguf: metadata key 'llama.embedding_length' is -4, expected "
              "a positive integer");
  }
  {
    GgufBuilder b;
    b.str("general.architecture", "llama")
        .u32("llama.context_length", 64)
        .u32("llama.embedding_length", 8)
        .raw("llama.feed_forward_length", 9,
             le32(4) + le64(2) + le32(16) + le32(32));
    EXPECT_EQ(errorOf(configOf(b)),
              "m.gguf: metadata key 'llama.feed_forward_length' varies per "
              "layer, which quant-opt does not support");
  }
  {
    GgufBuilder b = llamaBuilder();
    b.kvs.clear();
    b.kvCount = 0;
    b.str("general.architecture", "llama")
        .u32("llama.context_length", 64)
        .u32("llama.embedding_length", 8)
        .u32("llama.block_count", 2)
        .u32("llama.feed_forward_length", 16)
        .u32("llama.attention.head_count", 2);
    EXPECT_EQ(errorOf(configOf(b)), "m.gguf: missing metadata key "
                                    "'llama.attention.layer_norm_rms_epsilon'");
    b.f32("llama.attention.layer_norm_rms_epsilon", 1e-6f);
    EXPECT_EQ(errorOf(configOf(b)),
              "m.gguf: cannot tell the vocabulary size: no 'llama.vocab_size', "
              "'tokenizer.ggml.tokens' or 'token_embd.weight'");
  }
}

TEST(GgufTest, CheckpointView) {
  GgufBuilder b = llamaBuilder();
  // Order and types as llama.cpp writes them; shapes are reversed.
  b.tensor("token_embd.weight", {32, 40}, 8, std::string(40 * 34, '\0'))
      .tensor("blk.0.attn_norm.weight", {8}, 0, std::string(32, '\0'))
      .tensor("blk.0.attn_q.weight", {32, 8}, 8, std::string(8 * 34, '\0'))
      .tensor("blk.0.attn_k.weight", {32, 4}, 1, std::string(4 * 64, '\0'))
      .tensor("rope_freqs.weight", {2}, 0, std::string(8, '\0'))
      .tensor("blk.0.custom.weight", {3}, 30, std::string(6, '\0'));
  std::string bytes = b.build();
  llvm::Expected<GgufFile> f = parseGguf("m.gguf", bytes);
  ASSERT_TRUE(bool(f)) << llvm::toString(f.takeError());
  llvm::Expected<CheckpointFile> cf = ggufCheckpointFile(*f);
  ASSERT_TRUE(bool(cf)) << llvm::toString(cf.takeError());
  EXPECT_EQ(cf->format, SourceFormat::GGUF);
  EXPECT_EQ(cf->path, "m.gguf");
  ASSERT_EQ(cf->tensors.size(), 5u); // rope_freqs dropped
  struct Row {
    const char *name;
    DType dtype;
    std::vector<int64_t> shape;
    const char *encoding;
    int64_t heads;
    size_t ggufIndex;
  } rows[] = {
      // Block types: their raw rows (32 values = one 34-byte Q8_0 block).
      {"model.embed_tokens.weight", DType::U8, {40, 34}, "Q8_0", 0, 0},
      {"model.layers.0.input_layernorm.weight", DType::F32, {8}, "", 0, 1},
      {"model.layers.0.self_attn.q_proj.weight",
       DType::U8,
       {8, 34},
       "Q8_0",
       2,
       2},
      {"model.layers.0.self_attn.k_proj.weight", DType::F16, {4, 32}, "", 1, 3},
      {"blk.0.custom.weight", DType::BF16, {3}, "", 0, 5},
  };
  for (size_t i = 0; i < std::size(rows); ++i) {
    const TensorInfo &t = cf->tensors[i];
    const GgufTensorInfo &g = f->tensors[rows[i].ggufIndex];
    SCOPED_TRACE(rows[i].name);
    EXPECT_EQ(t.name, rows[i].name);
    EXPECT_EQ(t.dtype, rows[i].dtype);
    EXPECT_EQ(t.shape, rows[i].shape);
    EXPECT_EQ(t.encoding, rows[i].encoding);
    EXPECT_EQ(t.unpermuteHeads, rows[i].heads);
    EXPECT_EQ(t.offset, g.fileOffset);
    EXPECT_EQ(t.storageBytes, g.nbytes);
    EXPECT_EQ(t.file, "m.gguf");
    EXPECT_TRUE(t.strides.empty());
  }
}

TEST(GgufTest, CheckpointViewErrors) {
  {
    GgufBuilder b = llamaBuilder();
    b.tensor("blk.0.attn_q.weight", {256, 8}, 16, std::string(8 * 66, '\0'));
    llvm::Expected<GgufFile> f = parseGguf("m.gguf", b.build());
    ASSERT_TRUE(bool(f));
    EXPECT_EQ(errorOf(ggufCheckpointFile(*f)),
              "m.gguf: tensor 'blk.0.attn_q.weight' has ggml type IQ2_XXS, "
              "which quant-opt cannot read (supported: F32, F16, Q4_0, Q4_1, "
              "Q5_0, Q5_1, Q8_0, Q8_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K, I8, "
              "I16, I32, I64, F64, BF16)");
  }
  {
    // 6 rows are not 2 heads of an even head dimension (3 each).
    GgufBuilder b = llamaBuilder();
    b.tensor("blk.0.attn_q.weight", {2, 6}, 0, std::string(48, '\0'));
    llvm::Expected<GgufFile> f = parseGguf("m.gguf", b.build());
    ASSERT_TRUE(bool(f));
    EXPECT_EQ(errorOf(ggufCheckpointFile(*f)),
              "m.gguf: tensor 'blk.0.attn_q.weight': 6 rows are not 2 heads "
              "(llama.attention.head_count) of an even head dimension");
  }
  {
    GgufBuilder b = llamaBuilder();
    b.tensor("output_norm.weight", {8}, 0, std::string(32, '\0'))
        .tensor("model.norm.weight", {8}, 0, std::string(32, '\0'));
    llvm::Expected<GgufFile> f = parseGguf("m.gguf", b.build());
    ASSERT_TRUE(bool(f));
    EXPECT_EQ(errorOf(ggufCheckpointFile(*f)),
              "m.gguf: tensors 'output_norm.weight' and 'model.norm.weight' "
              "both stand for 'model.norm.weight'");
  }
}

//===----------------------------------------------------------------------===//
// Reading rows
//===----------------------------------------------------------------------===//

/// A Q8_0 block with d = 1 and qs[j] = base + j.
std::string q8Block(int base) {
  std::string b = le16(0x3C00);
  for (int j = 0; j < 32; ++j)
    b += char(int8_t(base + j));
  return b;
}

/// Writes `b` and opens it as a checkpoint.
CheckpointFile writeAndOpen(GgufBuilder &b, const std::string &name) {
  std::string path = scratchDir(name) + "/model.gguf";
  writeFile(path, b.build());
  llvm::Expected<CheckpointFile> cf = readGgufCheckpoint(path);
  EXPECT_TRUE(bool(cf)) << llvm::toString(cf.takeError());
  return cf ? std::move(*cf) : CheckpointFile();
}

TEST(GgufTest, ReadsStoredRowsOfPermutedTensors) {
  // q_proj with 2 heads of hd = 4 and 3 columns, F32; GGUF row g holds
  // g * 10 + column. The view marks the permutation; reads return the rows
  // as stored (weights.unpermute_heads undoes the order:
  // test/Transforms/serialize-gguf-ops.test).
  GgufBuilder b = llamaBuilder();
  std::vector<float> values;
  for (int g = 0; g < 8; ++g)
    for (int c = 0; c < 3; ++c)
      values.push_back(float(g * 10 + c));
  b.tensor("blk.0.attn_q.weight", {3, 8}, 0, floatBytes(values));
  CheckpointFile cf = writeAndOpen(b, "GgufUnpermute");
  ASSERT_EQ(cf.tensors.size(), 1u);
  const TensorInfo &t = cf.tensors[0];
  EXPECT_EQ(t.unpermuteHeads, 2);
  EXPECT_EQ(t.shape, (std::vector<int64_t>{8, 3}));
  TensorReader reader;
  std::vector<float> some(15);
  ASSERT_EQ(errorOf(reader.readRows(t, 1, 6, some.data())), "<success>");
  for (int r = 0; r < 5; ++r)
    EXPECT_EQ(some[r * 3], float((r + 1) * 10)) << r;
}

TEST(GgufTest, BlockTensorsAreTheirRawRows) {
  // token_embd [3 rows, 64 columns] Q8_0: row r has blocks with qs starting
  // at 10r - 40 and 10r - 8, d = 1. Each row is 2 blocks of 34 bytes.
  GgufBuilder b = llamaBuilder();
  std::string data;
  for (int r = 0; r < 3; ++r)
    data += q8Block(10 * r - 40) + q8Block(10 * r - 8);
  b.tensor("token_embd.weight", {64, 3}, 8, data);
  CheckpointFile cf = writeAndOpen(b, "GgufDequantRows");
  const TensorInfo &t = cf.tensors[0];
  EXPECT_EQ(t.encoding, "Q8_0");
  EXPECT_EQ(t.dtype, DType::U8);
  EXPECT_EQ(t.shape, (std::vector<int64_t>{3, 68}));
  TensorReader reader;
  std::vector<char> raw(136);
  ASSERT_EQ(errorOf(reader.readRows(t, 1, 3, raw.data())), "<success>");
  EXPECT_EQ(std::string(raw.data(), raw.size()), data.substr(68));
  // The rows decode to the values of the blocks.
  std::vector<float> rows(128);
  ASSERT_TRUE(ggmlDequantize(GgmlType::Q8_0, raw.data(), 128, rows.data()));
  for (int r = 1; r < 3; ++r)
    for (int c = 0; c < 64; ++c) {
      int q = c < 32 ? 10 * r - 40 + c : 10 * r - 8 + (c - 32);
      EXPECT_EQ(rows[(r - 1) * 64 + c], float(q)) << r << " " << c;
    }
  EXPECT_EQ(errorOf(reader.readRows(t, 2, 4, raw.data())),
            t.file + ": tensor 'model.embed_tokens.weight': row range [2, 4) "
                     "is outside [0, 3)");
}

TEST(GgufTest, OneDimBlockTensor) {
  // A 1-D Q8_0 tensor of 64 elements (qs = j and 32 + j): 68 bytes.
  GgufBuilder b = llamaBuilder();
  b.tensor("blk.1.odd.weight", {64}, 8, q8Block(0) + q8Block(32));
  CheckpointFile cf = writeAndOpen(b, "GgufQuantOneDim");
  ASSERT_EQ(cf.tensors.size(), 1u);
  EXPECT_EQ(cf.tensors[0].shape, (std::vector<int64_t>{68}));
  TensorReader reader;
  std::vector<char> raw(68);
  ASSERT_EQ(errorOf(reader.read(cf.tensors[0], raw.data())), "<success>");
  std::vector<float> all(64);
  ASSERT_TRUE(ggmlDequantize(GgmlType::Q8_0, raw.data(), 64, all.data()));
  for (int i = 0; i < 64; ++i)
    EXPECT_EQ(all[i], float(i));
}

TEST(GgufTest, ReadErrors) {
  GgufBuilder b = llamaBuilder();
  b.tensor("token_embd.weight", {32, 2}, 8, q8Block(0) + q8Block(1));
  std::string dir = scratchDir("GgufReadErrors");
  std::string path = dir + "/m.gguf";
  std::string bytes = b.build();
  writeFile(path, bytes);
  llvm::Expected<CheckpointFile> cf = readGgufCheckpoint(path);
  ASSERT_TRUE(bool(cf)) << llvm::toString(cf.takeError());
  TensorInfo t = cf->tensors[0];
  std::vector<char> out(68);
  // The file shrank after the header was read.
  writeFile(path, bytes.substr(0, t.offset + 40));
  TensorReader fresh;
  EXPECT_EQ(errorOf(fresh.readRows(t, 1, 2, out.data())),
            path + ": unexpected end of file reading 34 bytes at offset " +
                std::to_string(t.offset + 34));
}

TEST(GgufTest, OpenCheckpointFindsGguf) {
  GgufBuilder b = llamaBuilder();
  b.tensor("output_norm.weight", {8}, 0, floatBytes(std::vector<float>(8, 1)));
  std::string dir = scratchDir("GgufOpen");
  writeFile(dir + "/llama.gguf", b.build());
  // Auto: a lone *.gguf in a directory.
  llvm::Expected<Checkpoint> ck =
      openCheckpoint(dir, SourceFormat::Auto, ggufCheckpointFile);
  ASSERT_TRUE(bool(ck)) << llvm::toString(ck.takeError());
  EXPECT_EQ(ck->format, SourceFormat::GGUF);
  ASSERT_EQ(ck->torchToPath.size(), 1u);
  EXPECT_EQ(ck->torchToPath[0].first, "model.norm.weight");
  EXPECT_NE(ck->find("model.norm.weight"), nullptr);
  // By magic, whatever the name.
  writeFile(dir + "/weights.dat", b.build());
  llvm::Expected<CheckpointFile> cf = readCheckpointFile(
      dir + "/weights.dat", SourceFormat::Auto, ggufCheckpointFile);
  ASSERT_TRUE(bool(cf)) << llvm::toString(cf.takeError());
  EXPECT_EQ(cf->format, SourceFormat::GGUF);
  // Two GGUF files and no index.
  writeFile(dir + "/other.gguf", b.build());
  EXPECT_EQ(
      errorOf(openCheckpoint(dir, SourceFormat::GGUF, ggufCheckpointFile)),
      dir + ": found several *.gguf files (llama.gguf, other.gguf) and "
            "no index naming them");
}
//===----------------------------------------------------------------------===//
// Names for other readers (importance matrices)
//===----------------------------------------------------------------------===//

TEST(GgufTest, NamesThroughTheDefinitions) {
  using namespace qopt::models;
  // Only definitions with a GGUF hook read GGUF files.
  EXPECT_EQ(supportedGgufArchitectureList(), "llama");
  ASSERT_NE(findGgufArchitecture("llama"), nullptr);
  EXPECT_EQ(findGgufArchitecture("qwen2"), nullptr);
  EXPECT_EQ(qopt::models::ggufToHfName("qwen2", "blk.0.attn_q.weight"),
            std::nullopt);
  // A GGUF tensor name reaches the MLC parameters built from it: q, k and v
  // are fused into qkv_proj, gate and up into gate_up_proj.
  const Architecture *llama = findArchitecture("llama");
  ASSERT_NE(llama, nullptr);
  ModelConfig cfg(nlohmann::json::parse(R"({
    "hidden_size": 8, "intermediate_size": 16, "num_attention_heads": 2,
    "num_key_value_heads": 1, "num_hidden_layers": 2, "rms_norm_eps": 1e-5,
    "vocab_size": 40, "max_position_embeddings": 64,
    "tie_word_embeddings": true})"),
                  "config.json");
  llvm::Expected<ModelDef> def = llama->build(cfg, 1);
  ASSERT_TRUE(bool(def)) << llvm::toString(def.takeError());
  struct Row {
    const char *gguf;
    std::vector<std::string> mlc;
  } rows[] = {
      {"blk.1.attn_k.weight", {"model.layers.1.self_attn.qkv_proj.weight"}},
      {"blk.0.ffn_up.weight", {"model.layers.0.mlp.gate_up_proj.weight"}},
      {"blk.0.ffn_down.weight", {"model.layers.0.mlp.down_proj.weight"}},
      {"token_embd.weight", {"model.embed_tokens.weight"}},
      {"output.weight", {}}, // tied: MLC has no lm_head parameter
  };
  for (const Row &r : rows) {
    std::optional<std::string> hf = qopt::models::ggufToHfName("llama", r.gguf);
    ASSERT_TRUE(hf.has_value()) << r.gguf;
    EXPECT_EQ(mlcParamsReading(*def, *hf), r.mlc) << r.gguf;
  }
}

} // namespace

//===- HostilePickleTest.cpp - Pickles the torch reader must refuse ------===//
//
// Part of quant-opt.
//
// Every refusal of the pickle machine (qopt/Loaders/Pickle.h) with its exact
// message and byte position: globals outside the allow-list, rejected
// opcodes, stack, memo and MARK misuse, bad storages and calls, views outside
// their storage and the resource caps. Pickles are written opcode by opcode
// with the offsets noted.
//
//===----------------------------------------------------------------------===//

#include "qopt/Loaders/Pickle.h"
#include "qopt/Loaders/TensorReader.h"
#include "qopt/Loaders/TorchZip.h"

#include "TorchZipTestUtil.h"

#include <gtest/gtest.h>

using namespace qopt::loaders;
using namespace qopt::loaders::test;
using qopt::numerics::DType;

namespace {

//===----------------------------------------------------------------------===//
// Hostile pickles
//===----------------------------------------------------------------------===//

TEST_F(TorchZipFileTest, GlobalOsSystem) {
  std::string pkl = bytesOf("\x80\x02"                        // 0: PROTO 2
                            "}"                               // 2: EMPTY_DICT
                            "q\x00"                           // 3: BINPUT 0
                            "X\x0e\x00\x00\x00lm_head.weight" // 5: BINUNICODE
                            "cos\nsystem\n"       // 24: GLOBAL os.system
                            "X\x02\x00\x00\x00id" // 35: BINUNICODE 'id'
                            "\x85"                // 42: TUPLE1
                            "R"                   // 43: REDUCE
                            "s.");                // 44: SETITEM, STOP
  EXPECT_EQ(failPickle(pkl), path + ": unsupported pickle global 'os.system' "
                                    "in data.pkl at byte 24");
}

TEST_F(TorchZipFileTest, GlobalBuiltinsEval) {
  std::string pkl = bytesOf("\x80\x02"          // 0: PROTO 2
                            "cbuiltins\neval\n" // 2: GLOBAL
                            "X\x01\x00\x00\x00" // 17: BINUNICODE
                            "1"                 // '1'
                            "\x85R.");          // 23: TUPLE1 REDUCE STOP
  EXPECT_EQ(failPickle(pkl), path + ": unsupported pickle global "
                                    "'builtins.eval' in data.pkl at byte 2");
}

TEST_F(TorchZipFileTest, ReduceStyleUnknownClass) {
  // What pickle writes for an object whose __reduce__ returns (Evil, ()).
  std::string pkl = bytesOf("\x80\x02"           // 0: PROTO 2
                            "}"                  // 2: EMPTY_DICT
                            "X\x01\x00\x00\x00w" // 3: BINUNICODE 'w'
                            "c__main__\nEvil\n"  // 9: GLOBAL __main__.Evil
                            ")R"                 // 24: EMPTY_TUPLE REDUCE
                            "s.");
  EXPECT_EQ(failPickle(pkl), path + ": unsupported pickle global "
                                    "'__main__.Evil' in data.pkl at byte 9");
}

TEST_F(TorchZipFileTest, TorchGlobalOutsideTheAllowList) {
  std::string pkl = bytesOf("\x80\x02"       // 0: PROTO 2
                            "ctorch\nload\n" // 2: GLOBAL torch.load
                            ".");
  EXPECT_EQ(failPickle(pkl), path + ": unsupported pickle global "
                                    "'torch.load' in data.pkl at byte 2");
}

TEST_F(TorchZipFileTest, StackGlobal) {
  std::string pkl = bytesOf("\x80\x02"                // 0: PROTO 2
                            "X\x02\x00\x00\x00os"     // 2: 'os'
                            "X\x06\x00\x00\x00system" // 9: 'system'
                            "\x93"                    // 20: STACK_GLOBAL
                            ")R.");
  EXPECT_EQ(failPickle(pkl), path + ": unsupported pickle opcode 0x93 "
                                    "(STACK_GLOBAL) in data.pkl at byte 20");
}

TEST_F(TorchZipFileTest, OtherRejectedOpcodes) {
  // FRAME (protocol 4) right after PROTO 2.
  EXPECT_EQ(failPickle(bytesOf("\x80\x02\x95\x00\x00\x00\x00\x00\x00\x00\x00"
                               "}.")),
            path + ": unsupported pickle opcode 0x95 (FRAME) in data.pkl at "
                   "byte 2");
  // INST 'i' executes a class by name.
  EXPECT_EQ(failPickle(bytesOf("\x80\x02(ios\nsystem\n.")),
            path + ": unsupported pickle opcode 0x69 (INST) in data.pkl at "
                   "byte 3");
  EXPECT_EQ(failPickle(bytesOf("\x80\x02\xff")),
            path + ": unknown pickle opcode 0xff in data.pkl at byte 2");
  EXPECT_EQ(failPickle(bytesOf("\x80\x04}.")),
            path + ": unsupported pickle protocol 4 in data.pkl at byte 0");
}

TEST_F(TorchZipFileTest, MemoMiss) {
  std::string pkl = bytesOf("\x80\x02" // 0: PROTO 2
                            "}"        // 2: EMPTY_DICT
                            "h\x07"    // 3: BINGET 7 (never stored)
                            ".");
  EXPECT_EQ(failPickle(pkl), path + ": pickle memo index 7 is not defined in "
                                    "data.pkl at byte 3");
}

TEST_F(TorchZipFileTest, StackUnderflow) {
  // SETITEM needs dict, key, value; only the dict and one str are there.
  std::string pkl = bytesOf("\x80\x02"          // 0: PROTO 2
                            "}"                 // 2: EMPTY_DICT
                            "X\x01\x00\x00\x00" // 3: BINUNICODE
                            "a"                 // 'a'
                            "s"                 // 9: SETITEM
                            ".");
  EXPECT_EQ(failPickle(pkl), path + ": pickle stack underflow in data.pkl at "
                                    "byte 9");
  // REDUCE cannot pop below a MARK.
  EXPECT_EQ(failPickle(bytesOf("\x80\x02"
                               "ccollections\nOrderedDict\n"
                               "(" // 27: MARK
                               ")" // 28: EMPTY_TUPLE
                               "R" // 29: REDUCE
                               ".")),
            path + ": pickle stack underflow in data.pkl at byte 29");
  // An empty pickle stack at STOP.
  EXPECT_EQ(failPickle(bytesOf("\x80\x02.")),
            path + ": pickle stops with 0 objects on the stack in data.pkl "
                   "at byte 2");
}

TEST_F(TorchZipFileTest, MarkImbalance) {
  EXPECT_EQ(failPickle(bytesOf("\x80\x02}(.")),
            path + ": pickle stops with an open MARK in data.pkl at byte 4");
  EXPECT_EQ(failPickle(bytesOf("\x80\x02}t.")),
            path + ": pickle has no MARK to pop to in data.pkl at byte 3");
  EXPECT_EQ(failPickle(bytesOf("\x80\x02}}.")),
            path + ": pickle stops with 2 objects on the stack in data.pkl at "
                   "byte 4");
}

TEST_F(TorchZipFileTest, TruncatedAndTrailingPickle) {
  // BINUNICODE claims 255 bytes, 2 follow.
  EXPECT_EQ(failPickle(bytesOf("\x80\x02}X\xff\x00\x00\x00"
                               "ab")),
            path + ": unexpected end of pickle data in data.pkl at byte 3");
  EXPECT_EQ(failPickle(bytesOf("\x80\x02}")),
            path + ": pickle data ends without STOP in data.pkl at byte 3");
  EXPECT_EQ(failPickle(bytesOf("\x80\x02}.N")),
            path + ": trailing bytes after STOP in data.pkl at byte 4");
  // A GLOBAL without its second newline.
  EXPECT_EQ(failPickle(bytesOf("\x80\x02"
                               "ccollections\nOrderedDict")),
            path + ": unexpected end of pickle data in data.pkl at byte 2");
}

TEST_F(TorchZipFileTest, BadStrings) {
  // BINUNICODE with an invalid UTF-8 byte.
  EXPECT_EQ(failPickle(bytesOf("\x80\x02}X\x01\x00\x00\x00\xffN"
                               "s.")),
            path + ": string is not valid UTF-8 in data.pkl at byte 3");
}

TEST_F(TorchZipFileTest, UnknownStorageClass) {
  // The pid names collections.OrderedDict where a storage class belongs.
  PickleWriter p;
  p.proto().emptyDict().str("w");
  p.global("torch._utils", "_rebuild_tensor_v2").mark();
  p.mark().str("storage").global("collections", "OrderedDict").str("0");
  p.str("cpu").int4(1).tuple();
  size_t at = p.size();
  p.persid().tensorTail(0, {1}, {1}).setitem().stop();
  EXPECT_EQ(failPickle(p.bytes, {{"0", "abcd"}}),
            path +
                ": unknown storage class 'collections.OrderedDict' in "
                "persistent id in data.pkl at byte " +
                std::to_string(at));
}

TEST_F(TorchZipFileTest, UnsupportedStorageClass) {
  PickleWriter p;
  p.proto().emptyDict().str("w");
  p.global("torch._utils", "_rebuild_tensor_v2").mark();
  p.storagePid("ComplexFloatStorage", "0", 1);
  size_t at = p.size();
  p.persid().tensorTail(0, {1}, {1}).setitem().stop();
  EXPECT_EQ(failPickle(p.bytes, {{"0", std::string(8, '\0')}}),
            path +
                ": storage class 'torch.ComplexFloatStorage' is not "
                "supported in data.pkl at byte " +
                std::to_string(at));
  // A made-up storage class is not even an allowed global.
  PickleWriter q;
  q.proto().emptyDict().str("w");
  q.global("torch._utils", "_rebuild_tensor_v2").mark();
  q.mark().str("storage");
  size_t globalAt = q.size();
  q.global("torch", "EvilStorage");
  EXPECT_EQ(failPickle(q.bytes),
            path +
                ": unsupported pickle global 'torch.EvilStorage' in "
                "data.pkl at byte " +
                std::to_string(globalAt));
}

TEST_F(TorchZipFileTest, BadPersistentId) {
  // A pid that is a str, not a ('storage', ...) tuple.
  std::string pkl = bytesOf("\x80\x02}"
                            "X\x01\x00\x00\x00w" // 3
                            "X\x01\x00\x00\x00x" // 9
                            "Q"                  // 15: BINPERSID
                            "s.");
  EXPECT_EQ(failPickle(pkl), path + ": persistent id is not a ('storage', "
                                    "class, key, location, numel) tuple in "
                                    "data.pkl at byte 15");
}

TEST_F(TorchZipFileTest, ConflictingStorageDeclarations) {
  PickleWriter p;
  p.proto().emptyDict().mark();
  p.str("a").tensorV2("FloatStorage", "0", 2, 0, {2}, {1});
  p.str("b").global("torch._utils", "_rebuild_tensor_v2").mark();
  p.storagePid("HalfStorage", "0", 4);
  size_t at = p.size();
  p.persid().tensorTail(0, {4}, {1}).setitems().stop();
  EXPECT_EQ(failPickle(p.bytes, {{"0", std::string(8, '\0')}}),
            path +
                ": storage '0' is declared twice with different types or "
                "sizes in data.pkl at byte " +
                std::to_string(at));
}

TEST_F(TorchZipFileTest, CallsThatAreNotAllowed) {
  // Calling a storage class.
  PickleWriter p;
  p.proto().global("torch", "FloatStorage").emptyTuple();
  size_t at = p.size();
  p.reduce().stop();
  EXPECT_EQ(failPickle(p.bytes), path +
                                     ": calling 'torch.FloatStorage' is "
                                     "not supported in data.pkl at byte " +
                                     std::to_string(at));
  // NEWOBJ of an allowed global is still refused.
  EXPECT_EQ(failPickle(bytesOf("\x80\x02"
                               "ccollections\nOrderedDict\n"
                               ")"
                               "\x81" // 28: NEWOBJ
                               ".")),
            path + ": NEWOBJ of 'collections.OrderedDict' is not supported in "
                   "data.pkl at byte 28");
  // BUILD on a plain dict.
  EXPECT_EQ(failPickle(bytesOf("\x80\x02}}b.")),
            path + ": BUILD on a dict is not supported in data.pkl at byte 4");
  // _rebuild_tensor_v2 with 3 arguments.
  PickleWriter r;
  r.proto().global("torch._utils", "_rebuild_tensor_v2");
  r.mark().int1(1).int1(2).int1(3).tuple();
  size_t rat = r.size();
  r.reduce().stop();
  EXPECT_EQ(failPickle(r.bytes),
            path +
                ": 'torch._utils._rebuild_tensor_v2' called with 3 "
                "arguments in data.pkl at byte " +
                std::to_string(rat));
}

TEST_F(TorchZipFileTest, TopLevelNotAStateDict) {
  EXPECT_EQ(failPickle(bytesOf("\x80\x02].")),
            path + ": top-level object is a list, not a dict of tensors in "
                   "data.pkl at byte 4");
  // {'w': 5}
  EXPECT_EQ(failPickle(bytesOf("\x80\x02}X\x01\x00\x00\x00wK\x05s.")),
            path + ": value of 'w' is an int, not a tensor in data.pkl at "
                   "byte 13");
  // {1: None}
  EXPECT_EQ(failPickle(bytesOf("\x80\x02}K\x01Ns.")),
            path + ": state dict key is an int, not a str in data.pkl at byte "
                   "8");
}

TEST_F(TorchZipFileTest, SelfReferencingListDoesNotLeak) {
  // l = []; l.append(l); {'w': l}
  EXPECT_EQ(failPickle(bytesOf("\x80\x02}X\x01\x00\x00\x00w]q\x00h\x00"
                               "as.")),
            path + ": value of 'w' is a list, not a tensor in data.pkl at "
                   "byte 17");
}

TEST_F(TorchZipFileTest, MissingStorageRecord) {
  PickleWriter p;
  p.proto().emptyDict().str("w");
  p.tensorV2("FloatStorage", "7", 1, 0, {1}, {1}).setitem().stop();
  EXPECT_EQ(failPickle(p.bytes, {{"0", "abcd"}}),
            path + ": tensor 'w': storage record 'archive/data/7' is missing");
}

TEST_F(TorchZipFileTest, StorageLargerThanRecord) {
  // 100 floats = 400 bytes, the record has 16.
  PickleWriter p;
  p.proto().emptyDict().str("w");
  p.tensorV2("FloatStorage", "0", 100, 0, {4}, {1}).setitem().stop();
  EXPECT_EQ(failPickle(p.bytes, {{"0", std::string(16, '\0')}}),
            path + ": tensor 'w': storage '0' needs 400 bytes but record "
                   "'archive/data/0' has 16");
}

TEST_F(TorchZipFileTest, ViewOutsideStorage) {
  // 6 floats; offset 1 + (2-1)*3 + (3-1)*1 = element 6, one past the end.
  PickleWriter p;
  p.proto().emptyDict().str("w");
  p.tensorV2("FloatStorage", "0", 6, 1, {2, 3}, {3, 1}).setitem().stop();
  EXPECT_EQ(failPickle(p.bytes, {{"0", std::string(24, '\0')}}),
            path + ": tensor 'w': view (storage offset 1, shape [2, 3], "
                   "strides [3, 1]) reaches outside storage '0' of 24 bytes");
  // A transposed view with a stride one too large.
  PickleWriter q;
  q.proto().emptyDict().str("w");
  q.tensorV2("FloatStorage", "0", 6, 0, {3, 2}, {1, 4}).setitem().stop();
  EXPECT_EQ(failPickle(q.bytes, {{"0", std::string(24, '\0')}}),
            path + ": tensor 'w': view (storage offset 0, shape [3, 2], "
                   "strides [1, 4]) reaches outside storage '0' of 24 bytes");
}

TEST_F(TorchZipFileTest, AbsurdDimensions) {
  // 2^40 * 2^40 elements.
  PickleWriter p;
  p.proto().emptyDict().str("w");
  p.tensorV2("FloatStorage", "0", 1, 0, {1ll << 40, 1ll << 40}, {1, 1});
  p.setitem().stop();
  EXPECT_EQ(failPickle(p.bytes, {{"0", "abcd"}}),
            path + ": tensor 'w': shape [1099511627776, 1099511627776] "
                   "overflows the byte count");
  // A huge stride on a small shape reaches far outside the storage.
  PickleWriter q;
  q.proto().emptyDict().str("w");
  q.tensorV2("FloatStorage", "0", 1, 0, {2}, {1ll << 62}).setitem().stop();
  EXPECT_EQ(failPickle(q.bytes, {{"0", "abcd"}}),
            path + ": tensor 'w': view (storage offset 0, shape [2], strides "
                   "[4611686018427387904]) reaches outside storage '0' of 4 "
                   "bytes");
}

TEST_F(TorchZipFileTest, NegativeSize) {
  PickleWriter p;
  p.proto().emptyDict().str("w");
  p.global("torch._utils", "_rebuild_tensor_v2").mark();
  p.storagePid("FloatStorage", "0", 1).persid();
  p.int4(0).intTuple({-1}).intTuple({1}).newFalse().orderedDict().tuple();
  size_t at = p.size();
  p.reduce().setitem().stop();
  EXPECT_EQ(failPickle(p.bytes, {{"0", "abcd"}}),
            path +
                ": 'torch._utils._rebuild_tensor_v2' size is not a tuple "
                "of non-negative ints in data.pkl at byte " +
                std::to_string(at));
}

TEST_F(TorchZipFileTest, PickleResourceCaps) {
  PickleLimits limits;
  limits.maxStack = 5;
  limits.maxMemo = 2;
  limits.maxObjects = 100;
  // MARK then six NONEs: the sixth push (byte 8) exceeds 5 entries.
  EXPECT_EQ(errorOf(parseTorchPickle(bytesOf("\x80\x02(NNNNNNt."), "f.bin",
                                     "data.pkl", limits)),
            "f.bin: pickle stack exceeds 5 entries in data.pkl at byte 8");
  // A third memo slot: BINPUT 2 at byte 7.
  EXPECT_EQ(errorOf(parseTorchPickle(bytesOf("\x80\x02}q\x00q\x01q\x02."),
                                     "f.bin", "data.pkl", limits)),
            "f.bin: pickle memo exceeds 2 entries in data.pkl at byte 7");
  // More than 100 objects: an EMPTY_TUPLE wrapped by 200 TUPLE1s.
  std::string many = bytesOf("\x80\x02)");
  for (int i = 0; i < 200; ++i)
    many += "\x85"; // TUPLE1 wraps the top in a new tuple each time.
  many += ".";
  // EMPTY_TUPLE at byte 2 makes object 1; TUPLE1 number k (at byte 2 + k)
  // makes object 1 + k; the 101st is made at byte 102.
  EXPECT_EQ(errorOf(parseTorchPickle(many, "f.bin", "data.pkl", limits)),
            "f.bin: pickle creates more than 100 objects in data.pkl at byte "
            "102");
}

TEST_F(TorchZipFileTest, HugeMemoIndicesCostNothing) {
  // LONG_BINPUT 0xffffffff then LONG_BINGET 0xffffffff: the memo is sparse.
  std::string pkl = bytesOf("\x80\x02}"
                            "r\xff\xff\xff\xff" // 3: LONG_BINPUT 4294967295
                            "j\xff\xff\xff\xff" // 8: LONG_BINGET 4294967295
                            "b.");              // 13: BUILD
  EXPECT_EQ(failPickle(pkl), path + ": BUILD on a dict is not supported in "
                                    "data.pkl at byte 13");
}

} // namespace

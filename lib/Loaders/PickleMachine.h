//===- PickleMachine.h - The torch.save pickle machine ---------*- C++ -*-===//
//
// Part of quant-opt (not installed).
//
// The machine behind parseTorchPickle (qopt/Loaders/Pickle.h). It follows
// CPython's Unpickler (a MARK starts a new stack frame that ordinary pops
// cannot cross) over the protocol-2 opcodes torch.save writes. Objects live in
// an arena, so memo cycles cannot leak; strings are interned, so equal dict
// keys are the same object.
//
// Errors are a state, not an exception: the first failure records its
// message (fail/failAt) and every step returns false or nullptr up to the
// opcode loop, which returns the message as an llvm::Error. push(nullptr)
// fails without a message of its own, so `push(make(...))` passes a failed
// make on. The opcode loop lives in Pickle.cpp, the globals and the calls
// REDUCE makes in PickleCalls.cpp.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_LOADERS_PICKLEMACHINE_H
#define QOPT_LIB_LOADERS_PICKLEMACHINE_H

#include "qopt/Loaders/Pickle.h"

#include "llvm/ADT/Twine.h"

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace qopt::loaders::pickle {

using numerics::DType;

enum class Kind : uint8_t {
  None,
  Bool,
  Int,
  Float,
  Str,
  Bytes,
  Tuple,
  List,
  Dict,
  Set,
  Global,
  Storage,
  Tensor,
};

/// The globals the machine accepts.
enum class GlobalId : uint8_t {
  OrderedDict,
  RebuildTensorV2,
  RebuildTensorV3,
  RebuildParameter,
  RebuildParameterWithState,
  StorageClass,
  UntypedStorage,
  DtypeObject,
  Size,
  CodecsEncode,
};

struct Object;

/// Key lookup of a dict (string keys are interned: identity is equality).
struct DictIndex {
  std::unordered_map<const Object *, size_t> byStr;
  std::unordered_map<int64_t, size_t> byInt;
};

struct Object {
  Kind kind = Kind::None;
  /// Bool: the value; Dict: true for an OrderedDict.
  bool flag = false;
  /// Int: the value; Storage: index in TorchPickle::storages.
  int64_t i = 0;
  double f = 0;
  /// Str, Bytes: the bytes; Global: "module.name".
  std::string s;
  /// Tuple, List: the items; Dict: key, value, key, value, ...
  std::vector<Object *> items;
  std::unique_ptr<DictIndex> index;
  std::unique_ptr<PickleTensor> tensor;
  GlobalId global = GlobalId::OrderedDict;
  /// Global StorageClass / DtypeObject: the element type, if supported.
  std::optional<DType> dtype;
};

/// Printable form of untrusted bytes for messages.
std::string escape(llvm::StringRef s);

class Machine {
public:
  Machine(llvm::StringRef data, llvm::StringRef fileName,
          llvm::StringRef recordName, const PickleLimits &limits)
      : data(data), fileName(fileName.str()), recordName(recordName.str()),
        limits(limits) {}

  llvm::Expected<TorchPickle> run();

private:
  // Errors: record the first message; return false (nullptr from the
  // Object-returning helpers).
  bool fail(const llvm::Twine &msg);
  bool failAt(size_t pos, const llvm::Twine &msg);
  std::nullptr_t failNull(const llvm::Twine &msg) {
    fail(msg);
    return nullptr;
  }

  // Input: nullptr / false at the end of the data.
  const uint8_t *take(size_t n);
  [[nodiscard]] bool readU8(uint8_t &out);
  [[nodiscard]] bool readLine(std::string &out);

  // Objects and the stack.
  Object *make(Kind kind);
  Object *makeInt(int64_t v);
  Object *makeStr(llvm::StringRef bytes);
  /// Fails (keeping the first message) for nullptr.
  [[nodiscard]] bool push(Object *o);
  Object *pop();
  Object *top();
  [[nodiscard]] bool popMark(std::vector<Object *> &items);
  [[nodiscard]] bool memoPut(uint64_t idx);
  [[nodiscard]] bool memoGet(uint64_t idx);

  // Opcodes with semantics (PickleCalls.cpp).
  [[nodiscard]] bool step(uint8_t op, bool &stopped);
  [[nodiscard]] bool opGlobal();
  [[nodiscard]] bool persistentLoad();
  [[nodiscard]] bool reduce();
  [[nodiscard]] bool setItem(Object *dict, Object *key, Object *value);
  [[nodiscard]] bool build();
  Object *callRebuildTensor(const Object &callable, const Object &args);
  Object *callCodecsEncode(const Object &args);

  std::optional<TorchPickle> finish(Object *root);
  static std::string describe(const Object *o);

  llvm::StringRef data;
  std::string fileName;
  std::string recordName;
  PickleLimits limits;
  size_t pos = 0;
  size_t opPos = 0;
  uint64_t createdBytes = 0; // by calls (limits.maxCreatedBytes)
  std::string error;

  std::vector<std::unique_ptr<Object>> arena;
  std::vector<Object *> stack;
  std::vector<size_t> marks;
  std::unordered_map<uint64_t, Object *> memo;
  std::unordered_map<std::string_view, Object *> interned;
  /// Singletons, outside the arena (they do not count as created objects).
  Object noneObj;
  Object trueObj;
  Object falseObj;
  TorchPickle result;
  std::unordered_map<std::string, size_t> storageByKey;
};

} // namespace qopt::loaders::pickle

#endif // QOPT_LIB_LOADERS_PICKLEMACHINE_H

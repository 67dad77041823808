//===- Pickle.cpp - Non-executing reader of torch.save pickles -----------===//
//
// Part of quant-opt.
//
// The machine follows CPython's Unpickler (a MARK starts a new stack frame
// that ordinary pops cannot cross) over the protocol-2 opcodes torch.save
// writes. Objects live in an arena, so memo cycles cannot leak; strings are
// interned, so equal dict keys are the same object.
//
//===----------------------------------------------------------------------===//

#include "qopt/Loaders/Pickle.h"

#include "qopt/Loaders/Checkpoint.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/Endian.h"
#include "llvm/Support/MathExtras.h"

#include <cstring>
#include <memory>
#include <string_view>
#include <unordered_map>

namespace qopt::loaders {

using numerics::DType;

namespace {

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

/// Stops the machine; the message is already in Machine::error.
struct PickleAbort {};

class Machine {
public:
  Machine(llvm::StringRef data, llvm::StringRef fileName,
          llvm::StringRef recordName, const PickleLimits &limits)
      : data(data), fileName(fileName.str()), recordName(recordName.str()),
        limits(limits) {}

  llvm::Expected<TorchPickle> run();

private:
  // Errors.
  [[noreturn]] void fail(const llvm::Twine &msg);
  [[noreturn]] void failAt(size_t pos, const llvm::Twine &msg);

  // Input.
  const uint8_t *take(size_t n);
  uint8_t readU8() { return *take(1); }
  std::string readLine();

  // Objects and the stack.
  Object *make(Kind kind);
  Object *makeInt(int64_t v);
  Object *makeStr(llvm::StringRef bytes);
  void push(Object *o);
  Object *pop();
  Object *top();
  std::vector<Object *> popMark();
  void memoPut(uint64_t idx);
  void memoGet(uint64_t idx);

  // Opcodes with semantics.
  void opGlobal();
  void persistentLoad();
  void reduce();
  void setItem(Object *dict, Object *key, Object *value);
  void build();
  Object *callRebuildTensor(const Object &callable, const Object &args);
  Object *callCodecsEncode(const Object &args);

  TorchPickle finish(Object *root);
  static std::string describe(const Object *o);

  llvm::StringRef data;
  std::string fileName;
  std::string recordName;
  PickleLimits limits;
  size_t pos = 0;
  size_t opPos = 0;
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

} // namespace

/// Printable form of untrusted bytes for messages.
static std::string escape(llvm::StringRef s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'') {
      out += char(c);
    } else {
      out += "\\x";
      out += llvm::hexdigit(c >> 4, true);
      out += llvm::hexdigit(c & 15, true);
    }
  }
  return out;
}

/// Names of the standard pickle opcodes the machine rejects.
static const char *opcodeName(uint8_t op) {
  switch (op) {
  case '0':
    return "POP";
  case '1':
    return "POP_MARK";
  case '2':
    return "DUP";
  case 'F':
    return "FLOAT";
  case 'I':
    return "INT";
  case 'L':
    return "LONG";
  case 'P':
    return "PERSID";
  case 'S':
    return "STRING";
  case 'T':
    return "BINSTRING";
  case 'V':
    return "UNICODE";
  case 'd':
    return "DICT";
  case 'g':
    return "GET";
  case 'i':
    return "INST";
  case 'l':
    return "LIST";
  case 'o':
    return "OBJ";
  case 'p':
    return "PUT";
  case 'B':
    return "BINBYTES";
  case 'C':
    return "SHORT_BINBYTES";
  case 0x82:
    return "EXT1";
  case 0x83:
    return "EXT2";
  case 0x84:
    return "EXT4";
  case 0x8b:
    return "LONG4";
  case 0x8c:
    return "SHORT_BINUNICODE";
  case 0x8d:
    return "BINUNICODE8";
  case 0x8e:
    return "BINBYTES8";
  case 0x90:
    return "ADDITEMS";
  case 0x91:
    return "FROZENSET";
  case 0x92:
    return "NEWOBJ_EX";
  case 0x93:
    return "STACK_GLOBAL";
  case 0x94:
    return "MEMOIZE";
  case 0x95:
    return "FRAME";
  case 0x96:
    return "BYTEARRAY8";
  case 0x97:
    return "NEXT_BUFFER";
  case 0x98:
    return "READONLY_BUFFER";
  default:
    return nullptr;
  }
}

void Machine::fail(const llvm::Twine &msg) { failAt(opPos, msg); }

void Machine::failAt(size_t at, const llvm::Twine &msg) {
  error = (fileName + ": " + msg + " in " + recordName + " at byte " +
           llvm::Twine(at))
              .str();
  throw PickleAbort{};
}

const uint8_t *Machine::take(size_t n) {
  if (data.size() - pos < n)
    fail("unexpected end of pickle data");
  const uint8_t *p = reinterpret_cast<const uint8_t *>(data.data()) + pos;
  pos += n;
  return p;
}

std::string Machine::readLine() {
  size_t nl = data.find('\n', pos);
  if (nl == llvm::StringRef::npos)
    fail("unexpected end of pickle data");
  std::string line = data.slice(pos, nl).str();
  pos = nl + 1;
  return line;
}

Object *Machine::make(Kind kind) {
  if (arena.size() >= limits.maxObjects)
    fail("pickle creates more than " + llvm::Twine(limits.maxObjects) +
         " objects");
  arena.push_back(std::make_unique<Object>());
  arena.back()->kind = kind;
  return arena.back().get();
}

Object *Machine::makeInt(int64_t v) {
  Object *o = make(Kind::Int);
  o->i = v;
  return o;
}

Object *Machine::makeStr(llvm::StringRef bytes) {
  if (std::optional<size_t> bad = findInvalidUtf8(bytes))
    fail("string is not valid UTF-8");
  auto it = interned.find(std::string_view(bytes.data(), bytes.size()));
  if (it != interned.end())
    return it->second;
  Object *o = make(Kind::Str);
  o->s = bytes.str();
  interned.emplace(std::string_view(o->s), o);
  return o;
}

void Machine::push(Object *o) {
  if (stack.size() >= limits.maxStack)
    fail("pickle stack exceeds " + llvm::Twine(limits.maxStack) + " entries");
  stack.push_back(o);
}

Object *Machine::pop() {
  size_t floor = marks.empty() ? 0 : marks.back();
  if (stack.size() <= floor)
    fail("pickle stack underflow");
  Object *o = stack.back();
  stack.pop_back();
  return o;
}

Object *Machine::top() {
  size_t floor = marks.empty() ? 0 : marks.back();
  if (stack.size() <= floor)
    fail("pickle stack underflow");
  return stack.back();
}

std::vector<Object *> Machine::popMark() {
  if (marks.empty())
    fail("pickle has no MARK to pop to");
  size_t m = marks.back();
  marks.pop_back();
  std::vector<Object *> items(stack.begin() + m, stack.end());
  stack.resize(m);
  return items;
}

void Machine::memoPut(uint64_t idx) {
  Object *o = top();
  auto it = memo.find(idx);
  if (it != memo.end()) {
    it->second = o;
    return;
  }
  if (memo.size() >= limits.maxMemo)
    fail("pickle memo exceeds " + llvm::Twine(limits.maxMemo) + " entries");
  memo.emplace(idx, o);
}

void Machine::memoGet(uint64_t idx) {
  auto it = memo.find(idx);
  if (it == memo.end())
    fail("pickle memo index " + llvm::Twine(idx) + " is not defined");
  push(it->second);
}

std::string Machine::describe(const Object *o) {
  switch (o->kind) {
  case Kind::None:
    return "None";
  case Kind::Bool:
    return "a bool";
  case Kind::Int:
    return "an int";
  case Kind::Float:
    return "a float";
  case Kind::Str:
    return "a str";
  case Kind::Bytes:
    return "a bytes";
  case Kind::Tuple:
    return "a tuple";
  case Kind::List:
    return "a list";
  case Kind::Dict:
    return o->flag ? "an OrderedDict" : "a dict";
  case Kind::Set:
    return "a set";
  case Kind::Global:
    return "'" + o->s + "'";
  case Kind::Storage:
    return "a storage";
  case Kind::Tensor:
    return "a tensor";
  }
  return "an object";
}

//===----------------------------------------------------------------------===//
// GLOBAL
//===----------------------------------------------------------------------===//

namespace {
struct GlobalEntry {
  const char *module;
  const char *name;
  GlobalId id;
  std::optional<DType> dtype;
};
} // namespace

static const GlobalEntry kGlobals[] = {
    {"collections", "OrderedDict", GlobalId::OrderedDict, std::nullopt},
    {"torch._utils", "_rebuild_tensor_v2", GlobalId::RebuildTensorV2,
     std::nullopt},
    {"torch._utils", "_rebuild_tensor_v3", GlobalId::RebuildTensorV3,
     std::nullopt},
    {"torch._utils", "_rebuild_parameter", GlobalId::RebuildParameter,
     std::nullopt},
    {"torch._utils", "_rebuild_parameter_with_state",
     GlobalId::RebuildParameterWithState, std::nullopt},
    {"torch", "Size", GlobalId::Size, std::nullopt},
    {"_codecs", "encode", GlobalId::CodecsEncode, std::nullopt},
    {"torch", "UntypedStorage", GlobalId::UntypedStorage, std::nullopt},
    // Typed storage classes (docs/source-formats.md section 2).
    {"torch", "DoubleStorage", GlobalId::StorageClass, DType::F64},
    {"torch", "FloatStorage", GlobalId::StorageClass, DType::F32},
    {"torch", "HalfStorage", GlobalId::StorageClass, DType::F16},
    {"torch", "BFloat16Storage", GlobalId::StorageClass, DType::BF16},
    {"torch", "LongStorage", GlobalId::StorageClass, DType::I64},
    {"torch", "IntStorage", GlobalId::StorageClass, DType::I32},
    {"torch", "ShortStorage", GlobalId::StorageClass, DType::I16},
    {"torch", "CharStorage", GlobalId::StorageClass, DType::I8},
    {"torch", "ByteStorage", GlobalId::StorageClass, DType::U8},
    {"torch", "BoolStorage", GlobalId::StorageClass, DType::Bool},
    // Storage classes of types quant-opt has no DType for.
    {"torch", "ComplexFloatStorage", GlobalId::StorageClass, std::nullopt},
    {"torch", "ComplexDoubleStorage", GlobalId::StorageClass, std::nullopt},
    {"torch", "QInt8Storage", GlobalId::StorageClass, std::nullopt},
    {"torch", "QUInt8Storage", GlobalId::StorageClass, std::nullopt},
    {"torch", "QInt32Storage", GlobalId::StorageClass, std::nullopt},
    {"torch", "QUInt4x2Storage", GlobalId::StorageClass, std::nullopt},
    {"torch", "QUInt2x4Storage", GlobalId::StorageClass, std::nullopt},
    // dtype objects (for _rebuild_tensor_v3).
    {"torch", "float64", GlobalId::DtypeObject, DType::F64},
    {"torch", "double", GlobalId::DtypeObject, DType::F64},
    {"torch", "float32", GlobalId::DtypeObject, DType::F32},
    {"torch", "float", GlobalId::DtypeObject, DType::F32},
    {"torch", "float16", GlobalId::DtypeObject, DType::F16},
    {"torch", "half", GlobalId::DtypeObject, DType::F16},
    {"torch", "bfloat16", GlobalId::DtypeObject, DType::BF16},
    {"torch", "int64", GlobalId::DtypeObject, DType::I64},
    {"torch", "long", GlobalId::DtypeObject, DType::I64},
    {"torch", "int32", GlobalId::DtypeObject, DType::I32},
    {"torch", "int", GlobalId::DtypeObject, DType::I32},
    {"torch", "int16", GlobalId::DtypeObject, DType::I16},
    {"torch", "short", GlobalId::DtypeObject, DType::I16},
    {"torch", "int8", GlobalId::DtypeObject, DType::I8},
    {"torch", "uint8", GlobalId::DtypeObject, DType::U8},
    {"torch", "uint16", GlobalId::DtypeObject, DType::U16},
    {"torch", "uint32", GlobalId::DtypeObject, DType::U32},
    {"torch", "uint64", GlobalId::DtypeObject, DType::U64},
    {"torch", "bool", GlobalId::DtypeObject, DType::Bool},
    {"torch", "float8_e4m3fn", GlobalId::DtypeObject, DType::F8E4M3FN},
    {"torch", "float8_e5m2", GlobalId::DtypeObject, DType::F8E5M2},
};

void Machine::opGlobal() {
  std::string module = readLine();
  std::string name = readLine();
  for (const GlobalEntry &g : kGlobals) {
    if (module != g.module || name != g.name)
      continue;
    Object *o = make(Kind::Global);
    o->global = g.id;
    o->dtype = g.dtype;
    o->s = module + "." + name;
    push(o);
    return;
  }
  fail("unsupported pickle global '" + escape(module) + "." + escape(name) +
       "'");
}

//===----------------------------------------------------------------------===//
// BINPERSID
//===----------------------------------------------------------------------===//

void Machine::persistentLoad() {
  Object *pid = pop();
  if (pid->kind != Kind::Tuple || pid->items.size() != 5 ||
      pid->items[0]->kind != Kind::Str || pid->items[0]->s != "storage")
    fail("persistent id is not a ('storage', class, key, location, numel) "
         "tuple");
  const Object *cls = pid->items[1];
  const Object *key = pid->items[2];
  const Object *location = pid->items[3];
  const Object *numel = pid->items[4];
  if (cls->kind != Kind::Global || (cls->global != GlobalId::StorageClass &&
                                    cls->global != GlobalId::UntypedStorage))
    fail("unknown storage class " +
         (cls->kind == Kind::Global ? "'" + cls->s + "'" : describe(cls)) +
         " in persistent id");
  if (cls->global == GlobalId::StorageClass && !cls->dtype)
    fail("storage class '" + cls->s + "' is not supported");
  if (key->kind != Kind::Str || key->s.empty())
    fail("storage key in persistent id is not a non-empty string");
  if (location->kind != Kind::Str)
    fail("storage location in persistent id is not a string");
  if (numel->kind != Kind::Int || numel->i < 0)
    fail("storage size in persistent id is not a non-negative int");

  PickleStorage storage;
  storage.key = key->s;
  storage.dtype = cls->dtype;
  storage.numel = uint64_t(numel->i);
  uint64_t elem = cls->dtype ? numerics::dtypeSize(*cls->dtype) : 1;
  bool overflow = false;
  storage.nbytes = llvm::SaturatingMultiply(storage.numel, elem, &overflow);
  if (overflow || storage.nbytes > uint64_t(INT64_MAX))
    fail("storage '" + escape(storage.key) + "' of " +
         llvm::Twine(storage.numel) + " elements overflows the byte count");

  size_t index;
  auto it = storageByKey.find(storage.key);
  if (it != storageByKey.end()) {
    const PickleStorage &seen = result.storages[it->second];
    if (seen.dtype != storage.dtype || seen.numel != storage.numel)
      fail("storage '" + escape(storage.key) +
           "' is declared twice with different types or sizes");
    index = it->second;
  } else {
    index = result.storages.size();
    storageByKey.emplace(storage.key, index);
    result.storages.push_back(std::move(storage));
  }
  Object *o = make(Kind::Storage);
  o->i = int64_t(index);
  push(o);
}

//===----------------------------------------------------------------------===//
// REDUCE and friends
//===----------------------------------------------------------------------===//

/// Reads a tuple of non-negative ints.
static bool readDims(const Object *o, std::vector<int64_t> &out) {
  if (o->kind != Kind::Tuple)
    return false;
  for (const Object *d : o->items) {
    if (d->kind != Kind::Int || d->i < 0)
      return false;
    out.push_back(d->i);
  }
  return true;
}

Object *Machine::callRebuildTensor(const Object &callable, const Object &args) {
  bool v3 = callable.global == GlobalId::RebuildTensorV3;
  size_t fixed = v3 ? 7 : 6;
  const std::vector<Object *> &a = args.items;
  if (a.size() != fixed && a.size() != fixed + 1)
    fail("'" + callable.s + "' called with " + llvm::Twine(a.size()) +
         " arguments");
  if (a[0]->kind != Kind::Storage)
    fail("'" + callable.s + "' argument 1 is " + describe(a[0]) +
         ", not a storage");
  const PickleStorage &storage = result.storages[size_t(a[0]->i)];
  auto tensor = std::make_unique<PickleTensor>();
  tensor->storage = size_t(a[0]->i);
  if (v3) {
    if (a[6]->kind != Kind::Global || a[6]->global != GlobalId::DtypeObject ||
        !a[6]->dtype)
      fail("'" + callable.s + "' argument 7 is " + describe(a[6]) +
           ", not a supported dtype");
    tensor->dtype = *a[6]->dtype;
  } else {
    if (!storage.dtype)
      fail("'" + callable.s + "' needs a typed storage");
    tensor->dtype = *storage.dtype;
  }
  if (a[1]->kind != Kind::Int || a[1]->i < 0)
    fail("'" + callable.s + "' storage offset is not a non-negative int");
  tensor->storageOffset = a[1]->i;
  if (!readDims(a[2], tensor->size))
    fail("'" + callable.s + "' size is not a tuple of non-negative ints");
  if (!readDims(a[3], tensor->stride))
    fail("'" + callable.s + "' stride is not a tuple of non-negative ints");
  if (tensor->size.size() != tensor->stride.size())
    fail("'" + callable.s + "' has " + llvm::Twine(tensor->size.size()) +
         " sizes but " + llvm::Twine(tensor->stride.size()) + " strides");
  if (a[4]->kind != Kind::Bool)
    fail("'" + callable.s + "' requires_grad is not a bool");
  if (a[5]->kind != Kind::Dict)
    fail("'" + callable.s + "' backward hooks are not a dict");
  if (a.size() == fixed + 1) {
    const Object *meta = a[fixed];
    if (meta->kind != Kind::Dict)
      fail("'" + callable.s + "' metadata is not a dict");
    if (!meta->items.empty())
      fail("'" + callable.s + "' tensor metadata is not supported");
  }
  Object *o = make(Kind::Tensor);
  o->tensor = std::move(tensor);
  return o;
}

/// Decodes UTF-8 `s` (already validated) to latin-1 bytes.
static bool utf8ToLatin1(llvm::StringRef s, std::string &out) {
  for (size_t i = 0; i < s.size();) {
    unsigned char c = s[i];
    if (c < 0x80) {
      out += char(c);
      ++i;
    } else if ((c & 0xE0) == 0xC0 && i + 1 < s.size()) {
      unsigned cp = ((c & 0x1F) << 6) | (s[i + 1] & 0x3F);
      if (cp > 0xFF)
        return false;
      out += char(cp);
      i += 2;
    } else {
      return false;
    }
  }
  return true;
}

Object *Machine::callCodecsEncode(const Object &args) {
  const std::vector<Object *> &a = args.items;
  if (a.size() != 2 || a[0]->kind != Kind::Str || a[1]->kind != Kind::Str ||
      (a[1]->s != "latin1" && a[1]->s != "latin-1"))
    fail("'_codecs.encode' is only supported as (str, 'latin1')");
  Object *o = make(Kind::Bytes);
  if (!utf8ToLatin1(a[0]->s, o->s))
    fail("'_codecs.encode' string is not latin-1");
  return o;
}

void Machine::reduce() {
  Object *args = pop();
  Object *callable = pop();
  if (callable->kind != Kind::Global)
    fail("REDUCE calls " + describe(callable) + ", not a global");
  if (args->kind != Kind::Tuple)
    fail("REDUCE arguments are " + describe(args) + ", not a tuple");
  switch (callable->global) {
  case GlobalId::OrderedDict: {
    if (!args->items.empty())
      fail("'collections.OrderedDict' called with arguments");
    Object *d = make(Kind::Dict);
    d->flag = true;
    d->index = std::make_unique<DictIndex>();
    push(d);
    return;
  }
  case GlobalId::Size:
    if (args->items.size() != 1 || args->items[0]->kind != Kind::Tuple)
      fail("'torch.Size' is only supported with one tuple argument");
    push(args->items[0]);
    return;
  case GlobalId::CodecsEncode:
    push(callCodecsEncode(*args));
    return;
  case GlobalId::RebuildTensorV2:
  case GlobalId::RebuildTensorV3:
    push(callRebuildTensor(*callable, *args));
    return;
  case GlobalId::RebuildParameter:
  case GlobalId::RebuildParameterWithState: {
    size_t want =
        callable->global == GlobalId::RebuildParameterWithState ? 4 : 3;
    if (args->items.size() != want)
      fail("'" + callable->s + "' called with " +
           llvm::Twine(args->items.size()) + " arguments");
    if (args->items[0]->kind != Kind::Tensor)
      fail("'" + callable->s + "' argument 1 is " + describe(args->items[0]) +
           ", not a tensor");
    push(args->items[0]);
    return;
  }
  case GlobalId::StorageClass:
  case GlobalId::UntypedStorage:
  case GlobalId::DtypeObject:
    break;
  }
  fail("calling '" + callable->s + "' is not supported");
}

void Machine::setItem(Object *dict, Object *key, Object *value) {
  if (dict->kind != Kind::Dict)
    fail("SETITEM target is " + describe(dict) + ", not a dict");
  DictIndex &idx = *dict->index;
  size_t *slot = nullptr;
  size_t next = dict->items.size() / 2;
  if (key->kind == Kind::Str) {
    auto [it, inserted] = idx.byStr.emplace(key, next);
    if (!inserted)
      slot = &it->second;
  } else if (key->kind == Kind::Int) {
    auto [it, inserted] = idx.byInt.emplace(key->i, next);
    if (!inserted)
      slot = &it->second;
  } else {
    fail("dict key " + describe(key) + " is not supported");
  }
  if (slot) {
    dict->items[2 * *slot + 1] = value; // Python keeps the first position.
    return;
  }
  dict->items.push_back(key);
  dict->items.push_back(value);
}

void Machine::build() {
  Object *state = pop();
  Object *obj = top();
  if (obj->kind != Kind::Dict || !obj->flag)
    fail("BUILD on " + describe(obj) + " is not supported");
  if (state->kind != Kind::Dict)
    fail("BUILD state of an OrderedDict is " + describe(state) +
         ", not a dict");
  // The state (e.g. `_metadata`) sets attributes; tensors are unaffected.
}

//===----------------------------------------------------------------------===//
// The loop
//===----------------------------------------------------------------------===//

TorchPickle Machine::finish(Object *root) {
  if (root->kind != Kind::Dict)
    failAt(data.size(),
           "top-level object is " + describe(root) + ", not a dict of tensors");
  TorchPickle out = std::move(result);
  for (size_t i = 0; i + 1 < root->items.size(); i += 2) {
    const Object *key = root->items[i];
    const Object *value = root->items[i + 1];
    if (key->kind != Kind::Str)
      failAt(data.size(), "state dict key is " + describe(key) + ", not a str");
    PickleEntry entry;
    entry.name = key->s;
    if (value->kind == Kind::Tensor)
      entry.tensor = *value->tensor;
    else if (value->kind != Kind::None)
      failAt(data.size(), "value of '" + key->s + "' is " + describe(value) +
                              ", not a tensor");
    out.entries.push_back(std::move(entry));
  }
  return out;
}

llvm::Expected<TorchPickle> Machine::run() {
  try {
    noneObj.kind = Kind::None;
    trueObj.kind = Kind::Bool;
    trueObj.flag = true;
    falseObj.kind = Kind::Bool;
    while (true) {
      opPos = pos;
      if (pos >= data.size())
        fail("pickle data ends without STOP");
      uint8_t op = readU8();
      switch (op) {
      case 0x80: { // PROTO
        uint8_t proto = readU8();
        if (proto != 2)
          fail("unsupported pickle protocol " + llvm::Twine(unsigned(proto)));
        break;
      }
      case 'c': // GLOBAL
        opGlobal();
        break;
      case '}': { // EMPTY_DICT
        Object *d = make(Kind::Dict);
        d->index = std::make_unique<DictIndex>();
        push(d);
        break;
      }
      case ')': // EMPTY_TUPLE
        push(make(Kind::Tuple));
        break;
      case ']': // EMPTY_LIST
        push(make(Kind::List));
        break;
      case 0x8f: // EMPTY_SET
        push(make(Kind::Set));
        break;
      case '(': // MARK
        if (marks.size() >= limits.maxStack)
          fail("pickle has more than " + llvm::Twine(limits.maxStack) +
               " open MARKs");
        marks.push_back(stack.size());
        break;
      case 't': { // TUPLE
        std::vector<Object *> items = popMark();
        Object *t = make(Kind::Tuple);
        t->items = std::move(items);
        push(t);
        break;
      }
      case 0x85:   // TUPLE1
      case 0x86:   // TUPLE2
      case 0x87: { // TUPLE3
        size_t n = op - 0x84;
        std::vector<Object *> items(n);
        for (size_t i = n; i-- > 0;)
          items[i] = pop();
        Object *t = make(Kind::Tuple);
        t->items = std::move(items);
        push(t);
        break;
      }
      case 'X': { // BINUNICODE
        uint32_t len = llvm::support::endian::read32le(take(4));
        const uint8_t *p = take(len);
        push(makeStr(llvm::StringRef(reinterpret_cast<const char *>(p), len)));
        break;
      }
      case 'U': { // SHORT_BINSTRING
        uint8_t len = readU8();
        const uint8_t *p = take(len);
        push(makeStr(llvm::StringRef(reinterpret_cast<const char *>(p), len)));
        break;
      }
      case 'K': // BININT1
        push(makeInt(readU8()));
        break;
      case 'M': // BININT2
        push(makeInt(llvm::support::endian::read16le(take(2))));
        break;
      case 'J': // BININT
        push(makeInt(int32_t(llvm::support::endian::read32le(take(4)))));
        break;
      case 0x8a: { // LONG1
        uint8_t n = readU8();
        const uint8_t *p = take(n);
        uint64_t v = 0;
        for (size_t i = 0; i < n && i < 8; ++i)
          v |= uint64_t(p[i]) << (8 * i);
        bool negative = n > 0 && (p[std::min<size_t>(n, 8) - 1] & 0x80);
        if (negative && n < 8)
          v |= ~uint64_t(0) << (8 * n);
        // Bytes beyond 8 must only extend the sign.
        for (size_t i = 8; i < n; ++i)
          if (p[i] != (negative ? 0xFF : 0x00))
            fail("LONG1 integer does not fit in 64 bits");
        push(makeInt(int64_t(v)));
        break;
      }
      case 0x88: // NEWTRUE
        push(&trueObj);
        break;
      case 0x89: // NEWFALSE
        push(&falseObj);
        break;
      case 'N': // NONE
        push(&noneObj);
        break;
      case 'G': { // BINFLOAT, big-endian
        uint64_t bits = llvm::support::endian::read64be(take(8));
        Object *o = make(Kind::Float);
        std::memcpy(&o->f, &bits, 8);
        push(o);
        break;
      }
      case 'q': // BINPUT
        memoPut(readU8());
        break;
      case 'r': // LONG_BINPUT
        memoPut(llvm::support::endian::read32le(take(4)));
        break;
      case 'h': // BINGET
        memoGet(readU8());
        break;
      case 'j': // LONG_BINGET
        memoGet(llvm::support::endian::read32le(take(4)));
        break;
      case 'Q': // BINPERSID
        persistentLoad();
        break;
      case 'R': // REDUCE
        reduce();
        break;
      case 's': { // SETITEM
        Object *value = pop();
        Object *key = pop();
        setItem(top(), key, value);
        break;
      }
      case 'u': { // SETITEMS
        std::vector<Object *> items = popMark();
        if (items.size() % 2 != 0)
          fail("SETITEMS has an odd number of items");
        Object *dict = top();
        for (size_t i = 0; i < items.size(); i += 2)
          setItem(dict, items[i], items[i + 1]);
        break;
      }
      case 'a': { // APPEND
        Object *value = pop();
        Object *list = top();
        if (list->kind != Kind::List)
          fail("APPEND target is " + describe(list) + ", not a list");
        list->items.push_back(value);
        break;
      }
      case 'e': { // APPENDS
        std::vector<Object *> items = popMark();
        Object *list = top();
        if (list->kind != Kind::List)
          fail("APPENDS target is " + describe(list) + ", not a list");
        list->items.insert(list->items.end(), items.begin(), items.end());
        break;
      }
      case 'b': // BUILD
        build();
        break;
      case 0x81: { // NEWOBJ
        pop();     // args
        Object *cls = pop();
        fail("NEWOBJ of " + describe(cls) + " is not supported");
      }
      case '.': { // STOP
        if (!marks.empty())
          fail("pickle stops with an open MARK");
        if (stack.size() != 1)
          fail("pickle stops with " + llvm::Twine(stack.size()) +
               " objects on the stack");
        if (pos != data.size())
          failAt(pos, "trailing bytes after STOP");
        return finish(stack.back());
      }
      default:
        if (const char *name = opcodeName(op))
          fail("unsupported pickle opcode 0x" + llvm::utohexstr(op, true, 2) +
               " (" + name + ")");
        fail("unknown pickle opcode 0x" + llvm::utohexstr(op, true, 2));
      }
    }
  } catch (const PickleAbort &) {
    return llvm::createStringError(llvm::inconvertibleErrorCode(), error);
  }
}

llvm::Expected<TorchPickle> parseTorchPickle(llvm::StringRef data,
                                             llvm::StringRef fileName,
                                             llvm::StringRef recordName,
                                             const PickleLimits &limits) {
  Machine machine(data, fileName, recordName, limits);
  return machine.run();
}

} // namespace qopt::loaders

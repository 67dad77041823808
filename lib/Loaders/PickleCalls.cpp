//===- PickleCalls.cpp - Globals and calls of the pickle machine ---------===//
//
// Part of quant-opt.
//
// What the pickle machine (PickleMachine.h) lets a pickle name and call: the
// allow-listed globals, persistent ids as storage references, REDUCE of the
// tensor rebuild functions, collections.OrderedDict, torch.Size and
// _codecs.encode, dict items, BUILD, and the state dict at STOP.
//
//===----------------------------------------------------------------------===//

#include "PickleMachine.h"

#include "llvm/Support/MathExtras.h"

namespace qopt::loaders::pickle {

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
    // Typed storage classes (docs/source-formats.md, PyTorch `.bin`).
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

bool Machine::opGlobal() {
  std::string module, name;
  if (!readLine(module) || !readLine(name))
    return false;
  for (const GlobalEntry &g : kGlobals) {
    if (module != g.module || name != g.name)
      continue;
    Object *o = make(Kind::Global);
    if (!o)
      return false;
    o->global = g.id;
    o->dtype = g.dtype;
    o->s = module + "." + name;
    return push(o);
  }
  return fail("unsupported pickle global '" + escape(module) + "." +
              escape(name) + "'");
}

//===----------------------------------------------------------------------===//
// BINPERSID
//===----------------------------------------------------------------------===//

bool Machine::persistentLoad() {
  Object *pid = pop();
  if (!pid)
    return false;
  if (pid->kind != Kind::Tuple || pid->items.size() != 5 ||
      pid->items[0]->kind != Kind::Str || pid->items[0]->s != "storage")
    return fail(
        "persistent id is not a ('storage', class, key, location, numel) "
        "tuple");
  const Object *cls = pid->items[1];
  const Object *key = pid->items[2];
  const Object *location = pid->items[3];
  const Object *numel = pid->items[4];
  if (cls->kind != Kind::Global || (cls->global != GlobalId::StorageClass &&
                                    cls->global != GlobalId::UntypedStorage))
    return fail(
        "unknown storage class " +
        (cls->kind == Kind::Global ? "'" + cls->s + "'" : describe(cls)) +
        " in persistent id");
  if (cls->global == GlobalId::StorageClass && !cls->dtype)
    return fail("storage class '" + cls->s + "' is not supported");
  if (key->kind != Kind::Str || key->s.empty())
    return fail("storage key in persistent id is not a non-empty string");
  if (location->kind != Kind::Str)
    return fail("storage location in persistent id is not a string");
  if (numel->kind != Kind::Int || numel->i < 0)
    return fail("storage size in persistent id is not a non-negative int");

  PickleStorage storage;
  storage.key = key->s;
  storage.dtype = cls->dtype;
  storage.numel = uint64_t(numel->i);
  uint64_t elem = cls->dtype ? numerics::dtypeSize(*cls->dtype) : 1;
  bool overflow = false;
  storage.nbytes = llvm::SaturatingMultiply(storage.numel, elem, &overflow);
  if (overflow || storage.nbytes > uint64_t(INT64_MAX))
    return fail("storage '" + escape(storage.key) + "' of " +
                llvm::Twine(storage.numel) +
                " elements overflows the byte count");

  size_t index;
  auto it = storageByKey.find(storage.key);
  if (it != storageByKey.end()) {
    const PickleStorage &seen = result.storages[it->second];
    if (seen.dtype != storage.dtype || seen.numel != storage.numel)
      return fail("storage '" + escape(storage.key) +
                  "' is declared twice with different types or sizes");
    index = it->second;
  } else {
    index = result.storages.size();
    storageByKey.emplace(storage.key, index);
    result.storages.push_back(std::move(storage));
  }
  Object *o = make(Kind::Storage);
  if (o)
    o->i = int64_t(index);
  return push(o);
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
    return failNull("'" + callable.s + "' called with " +
                    llvm::Twine(a.size()) + " arguments");
  if (a[0]->kind != Kind::Storage)
    return failNull("'" + callable.s + "' argument 1 is " + describe(a[0]) +
                    ", not a storage");
  const PickleStorage &storage = result.storages[size_t(a[0]->i)];
  auto tensor = std::make_unique<PickleTensor>();
  tensor->storage = size_t(a[0]->i);
  if (v3) {
    if (a[6]->kind != Kind::Global || a[6]->global != GlobalId::DtypeObject ||
        !a[6]->dtype)
      return failNull("'" + callable.s + "' argument 7 is " + describe(a[6]) +
                      ", not a supported dtype");
    tensor->dtype = *a[6]->dtype;
  } else {
    if (!storage.dtype)
      return failNull("'" + callable.s + "' needs a typed storage");
    tensor->dtype = *storage.dtype;
  }
  if (a[1]->kind != Kind::Int || a[1]->i < 0)
    return failNull("'" + callable.s +
                    "' storage offset is not a non-negative int");
  tensor->storageOffset = a[1]->i;
  if (!readDims(a[2], tensor->size))
    return failNull("'" + callable.s +
                    "' size is not a tuple of non-negative ints");
  if (!readDims(a[3], tensor->stride))
    return failNull("'" + callable.s +
                    "' stride is not a tuple of non-negative ints");
  if (tensor->size.size() != tensor->stride.size())
    return failNull("'" + callable.s + "' has " +
                    llvm::Twine(tensor->size.size()) + " sizes but " +
                    llvm::Twine(tensor->stride.size()) + " strides");
  if (a[4]->kind != Kind::Bool)
    return failNull("'" + callable.s + "' requires_grad is not a bool");
  if (a[5]->kind != Kind::Dict)
    return failNull("'" + callable.s + "' backward hooks are not a dict");
  if (a.size() == fixed + 1) {
    const Object *meta = a[fixed];
    if (meta->kind != Kind::Dict)
      return failNull("'" + callable.s + "' metadata is not a dict");
    if (!meta->items.empty())
      return failNull("'" + callable.s + "' tensor metadata is not supported");
  }
  Object *o = make(Kind::Tensor);
  if (o)
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
    return failNull("'_codecs.encode' is only supported as (str, 'latin1')");
  uint64_t budget = limits.maxCreatedBytes
                        ? limits.maxCreatedBytes
                        : 2 * uint64_t(data.size()) + (1u << 20);
  createdBytes += a[0]->s.size();
  if (createdBytes > budget)
    return failNull("'_codecs.encode' calls create more than " +
                    llvm::Twine(budget) + " bytes");
  Object *o = make(Kind::Bytes);
  if (!o)
    return nullptr;
  if (!utf8ToLatin1(a[0]->s, o->s))
    return failNull("'_codecs.encode' string is not latin-1");
  return o;
}

bool Machine::reduce() {
  Object *args = pop();
  Object *callable = args ? pop() : nullptr;
  if (!callable)
    return false;
  if (callable->kind != Kind::Global)
    return fail("REDUCE calls " + describe(callable) + ", not a global");
  if (args->kind != Kind::Tuple)
    return fail("REDUCE arguments are " + describe(args) + ", not a tuple");
  switch (callable->global) {
  case GlobalId::OrderedDict: {
    if (!args->items.empty())
      return fail("'collections.OrderedDict' called with arguments");
    Object *d = make(Kind::Dict);
    if (d) {
      d->flag = true;
      d->index = std::make_unique<DictIndex>();
    }
    return push(d);
  }
  case GlobalId::Size:
    if (args->items.size() != 1 || args->items[0]->kind != Kind::Tuple)
      return fail("'torch.Size' is only supported with one tuple argument");
    return push(args->items[0]);
  case GlobalId::CodecsEncode:
    return push(callCodecsEncode(*args));
  case GlobalId::RebuildTensorV2:
  case GlobalId::RebuildTensorV3:
    return push(callRebuildTensor(*callable, *args));
  case GlobalId::RebuildParameter:
  case GlobalId::RebuildParameterWithState: {
    size_t want =
        callable->global == GlobalId::RebuildParameterWithState ? 4 : 3;
    if (args->items.size() != want)
      return fail("'" + callable->s + "' called with " +
                  llvm::Twine(args->items.size()) + " arguments");
    if (args->items[0]->kind != Kind::Tensor)
      return fail("'" + callable->s + "' argument 1 is " +
                  describe(args->items[0]) + ", not a tensor");
    return push(args->items[0]);
  }
  case GlobalId::StorageClass:
  case GlobalId::UntypedStorage:
  case GlobalId::DtypeObject:
    break;
  }
  return fail("calling '" + callable->s + "' is not supported");
}

bool Machine::setItem(Object *dict, Object *key, Object *value) {
  if (dict->kind != Kind::Dict)
    return fail("SETITEM target is " + describe(dict) + ", not a dict");
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
    return fail("dict key " + describe(key) + " is not supported");
  }
  if (slot) {
    dict->items[2 * *slot + 1] = value; // Python keeps the first position.
    return true;
  }
  dict->items.push_back(key);
  dict->items.push_back(value);
  return true;
}

bool Machine::build() {
  Object *state = pop();
  Object *obj = state ? top() : nullptr;
  if (!obj)
    return false;
  if (obj->kind != Kind::Dict || !obj->flag)
    return fail("BUILD on " + describe(obj) + " is not supported");
  if (state->kind != Kind::Dict)
    return fail("BUILD state of an OrderedDict is " + describe(state) +
                ", not a dict");
  // The state (e.g. `_metadata`) sets attributes; tensors are unaffected.
  return true;
}

//===----------------------------------------------------------------------===//
// STOP
//===----------------------------------------------------------------------===//

std::optional<TorchPickle> Machine::finish(Object *root) {
  // Problems of the whole state dict are located at its end.
  auto failAtEnd = [&](const llvm::Twine &msg) {
    failAt(data.size(), msg);
    return std::nullopt;
  };
  if (root->kind != Kind::Dict)
    return failAtEnd("top-level object is " + describe(root) +
                     ", not a dict of tensors");
  TorchPickle out = std::move(result);
  for (size_t i = 0; i + 1 < root->items.size(); i += 2) {
    const Object *key = root->items[i];
    const Object *value = root->items[i + 1];
    if (key->kind != Kind::Str)
      return failAtEnd("state dict key is " + describe(key) + ", not a str");
    PickleEntry entry;
    entry.name = key->s;
    if (value->kind == Kind::Tensor)
      entry.tensor = *value->tensor;
    else if (value->kind != Kind::None)
      return failAtEnd("value of '" + key->s + "' is " + describe(value) +
                       ", not a tensor");
    out.entries.push_back(std::move(entry));
  }
  return out;
}

} // namespace qopt::loaders::pickle

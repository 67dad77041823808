//===- Pickle.cpp - Non-executing reader of torch.save pickles -----------===//
//
// Part of quant-opt.
//
// The stack, the memo and the opcode loop of the pickle machine
// (PickleMachine.h); the globals and the calls REDUCE makes are in
// PickleCalls.cpp.
//
//===----------------------------------------------------------------------===//

#include "PickleMachine.h"

#include "qopt/Loaders/Checkpoint.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/Endian.h"

#include <cstring>

namespace qopt::loaders {
namespace pickle {

std::string escape(llvm::StringRef s) {
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

bool Machine::fail(const llvm::Twine &msg) { return failAt(opPos, msg); }

bool Machine::failAt(size_t at, const llvm::Twine &msg) {
  // Only the first failure speaks: every caller stops at it.
  if (error.empty())
    error = (fileName + ": " + msg + " in " + recordName + " at byte " +
             llvm::Twine(at))
                .str();
  return false;
}

const uint8_t *Machine::take(size_t n) {
  if (data.size() - pos < n) {
    fail("unexpected end of pickle data");
    return nullptr;
  }
  const uint8_t *p = reinterpret_cast<const uint8_t *>(data.data()) + pos;
  pos += n;
  return p;
}

bool Machine::readU8(uint8_t &out) {
  const uint8_t *p = take(1);
  if (!p)
    return false;
  out = *p;
  return true;
}

bool Machine::readLine(std::string &out) {
  size_t nl = data.find('\n', pos);
  if (nl == llvm::StringRef::npos)
    return fail("unexpected end of pickle data");
  out = data.slice(pos, nl).str();
  pos = nl + 1;
  return true;
}

Object *Machine::make(Kind kind) {
  if (arena.size() >= limits.maxObjects)
    return failNull("pickle creates more than " +
                    llvm::Twine(limits.maxObjects) + " objects");
  arena.push_back(std::make_unique<Object>());
  arena.back()->kind = kind;
  return arena.back().get();
}

Object *Machine::makeInt(int64_t v) {
  Object *o = make(Kind::Int);
  if (o)
    o->i = v;
  return o;
}

Object *Machine::makeStr(llvm::StringRef bytes) {
  if (std::optional<size_t> bad = findInvalidUtf8(bytes))
    return failNull("string is not valid UTF-8");
  auto it = interned.find(std::string_view(bytes.data(), bytes.size()));
  if (it != interned.end())
    return it->second;
  Object *o = make(Kind::Str);
  if (!o)
    return nullptr;
  o->s = bytes.str();
  interned.emplace(std::string_view(o->s), o);
  return o;
}

bool Machine::push(Object *o) {
  if (!o)
    return false; // The failure that made it null has spoken.
  if (stack.size() >= limits.maxStack)
    return fail("pickle stack exceeds " + llvm::Twine(limits.maxStack) +
                " entries");
  stack.push_back(o);
  return true;
}

Object *Machine::pop() {
  size_t floor = marks.empty() ? 0 : marks.back();
  if (stack.size() <= floor)
    return failNull("pickle stack underflow");
  Object *o = stack.back();
  stack.pop_back();
  return o;
}

Object *Machine::top() {
  size_t floor = marks.empty() ? 0 : marks.back();
  if (stack.size() <= floor)
    return failNull("pickle stack underflow");
  return stack.back();
}

bool Machine::popMark(std::vector<Object *> &items) {
  if (marks.empty())
    return fail("pickle has no MARK to pop to");
  size_t m = marks.back();
  marks.pop_back();
  items.assign(stack.begin() + m, stack.end());
  stack.resize(m);
  return true;
}

bool Machine::memoPut(uint64_t idx) {
  Object *o = top();
  if (!o)
    return false;
  auto it = memo.find(idx);
  if (it != memo.end()) {
    it->second = o;
    return true;
  }
  if (memo.size() >= limits.maxMemo)
    return fail("pickle memo exceeds " + llvm::Twine(limits.maxMemo) +
                " entries");
  memo.emplace(idx, o);
  return true;
}

bool Machine::memoGet(uint64_t idx) {
  auto it = memo.find(idx);
  if (it == memo.end())
    return fail("pickle memo index " + llvm::Twine(idx) + " is not defined");
  return push(it->second);
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
// The loop
//===----------------------------------------------------------------------===//

/// A tuple of `items`, or nullptr.
static Object *tupleOf(Object *t, std::vector<Object *> items) {
  if (t)
    t->items = std::move(items);
  return t;
}

bool Machine::step(uint8_t op, bool &stopped) {
  switch (op) {
  case 0x80: { // PROTO
    uint8_t proto;
    if (!readU8(proto))
      return false;
    if (proto != 2)
      return fail("unsupported pickle protocol " +
                  llvm::Twine(unsigned(proto)));
    return true;
  }
  case 'c': // GLOBAL
    return opGlobal();
  case '}': { // EMPTY_DICT
    Object *d = make(Kind::Dict);
    if (d)
      d->index = std::make_unique<DictIndex>();
    return push(d);
  }
  case ')': // EMPTY_TUPLE
    return push(make(Kind::Tuple));
  case ']': // EMPTY_LIST
    return push(make(Kind::List));
  case 0x8f: // EMPTY_SET
    return push(make(Kind::Set));
  case '(': // MARK
    if (marks.size() >= limits.maxStack)
      return fail("pickle has more than " + llvm::Twine(limits.maxStack) +
                  " open MARKs");
    marks.push_back(stack.size());
    return true;
  case 't': { // TUPLE
    std::vector<Object *> items;
    if (!popMark(items))
      return false;
    return push(tupleOf(make(Kind::Tuple), std::move(items)));
  }
  case 0x85:   // TUPLE1
  case 0x86:   // TUPLE2
  case 0x87: { // TUPLE3
    size_t n = op - 0x84;
    std::vector<Object *> items(n);
    for (size_t i = n; i-- > 0;)
      if (!(items[i] = pop()))
        return false;
    return push(tupleOf(make(Kind::Tuple), std::move(items)));
  }
  case 'X': { // BINUNICODE
    const uint8_t *n = take(4);
    if (!n)
      return false;
    uint32_t len = llvm::support::endian::read32le(n);
    const uint8_t *p = take(len);
    if (!p)
      return false;
    return push(
        makeStr(llvm::StringRef(reinterpret_cast<const char *>(p), len)));
  }
  case 'U': { // SHORT_BINSTRING
    uint8_t len;
    if (!readU8(len))
      return false;
    const uint8_t *p = take(len);
    if (!p)
      return false;
    return push(
        makeStr(llvm::StringRef(reinterpret_cast<const char *>(p), len)));
  }
  case 'K': { // BININT1
    uint8_t v;
    return readU8(v) && push(makeInt(v));
  }
  case 'M': { // BININT2
    const uint8_t *p = take(2);
    return p && push(makeInt(llvm::support::endian::read16le(p)));
  }
  case 'J': { // BININT
    const uint8_t *p = take(4);
    return p && push(makeInt(int32_t(llvm::support::endian::read32le(p))));
  }
  case 0x8a: { // LONG1
    uint8_t n;
    if (!readU8(n))
      return false;
    const uint8_t *p = take(n);
    if (!p)
      return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n && i < 8; ++i)
      v |= uint64_t(p[i]) << (8 * i);
    bool negative = n > 0 && (p[std::min<size_t>(n, 8) - 1] & 0x80);
    if (negative && n < 8)
      v |= ~uint64_t(0) << (8 * n);
    // Bytes beyond 8 must only extend the sign.
    for (size_t i = 8; i < n; ++i)
      if (p[i] != (negative ? 0xFF : 0x00))
        return fail("LONG1 integer does not fit in 64 bits");
    return push(makeInt(int64_t(v)));
  }
  case 0x88: // NEWTRUE
    return push(&trueObj);
  case 0x89: // NEWFALSE
    return push(&falseObj);
  case 'N': // NONE
    return push(&noneObj);
  case 'G': { // BINFLOAT, big-endian
    const uint8_t *p = take(8);
    if (!p)
      return false;
    uint64_t bits = llvm::support::endian::read64be(p);
    Object *o = make(Kind::Float);
    if (o)
      std::memcpy(&o->f, &bits, 8);
    return push(o);
  }
  case 'q': { // BINPUT
    uint8_t idx;
    return readU8(idx) && memoPut(idx);
  }
  case 'r': { // LONG_BINPUT
    const uint8_t *p = take(4);
    return p && memoPut(llvm::support::endian::read32le(p));
  }
  case 'h': { // BINGET
    uint8_t idx;
    return readU8(idx) && memoGet(idx);
  }
  case 'j': { // LONG_BINGET
    const uint8_t *p = take(4);
    return p && memoGet(llvm::support::endian::read32le(p));
  }
  case 'Q': // BINPERSID
    return persistentLoad();
  case 'R': // REDUCE
    return reduce();
  case 's': { // SETITEM
    Object *value = pop();
    Object *key = value ? pop() : nullptr;
    Object *dict = key ? top() : nullptr;
    return dict && setItem(dict, key, value);
  }
  case 'u': { // SETITEMS
    std::vector<Object *> items;
    if (!popMark(items))
      return false;
    if (items.size() % 2 != 0)
      return fail("SETITEMS has an odd number of items");
    Object *dict = top();
    if (!dict)
      return false;
    for (size_t i = 0; i < items.size(); i += 2)
      if (!setItem(dict, items[i], items[i + 1]))
        return false;
    return true;
  }
  case 'a': { // APPEND
    Object *value = pop();
    Object *list = value ? top() : nullptr;
    if (!list)
      return false;
    if (list->kind != Kind::List)
      return fail("APPEND target is " + describe(list) + ", not a list");
    list->items.push_back(value);
    return true;
  }
  case 'e': { // APPENDS
    std::vector<Object *> items;
    if (!popMark(items))
      return false;
    Object *list = top();
    if (!list)
      return false;
    if (list->kind != Kind::List)
      return fail("APPENDS target is " + describe(list) + ", not a list");
    list->items.insert(list->items.end(), items.begin(), items.end());
    return true;
  }
  case 'b': // BUILD
    return build();
  case 0x81: {  // NEWOBJ
    if (!pop()) // args
      return false;
    Object *cls = pop();
    if (!cls)
      return false;
    return fail("NEWOBJ of " + describe(cls) + " is not supported");
  }
  case '.': // STOP
    if (!marks.empty())
      return fail("pickle stops with an open MARK");
    if (stack.size() != 1)
      return fail("pickle stops with " + llvm::Twine(stack.size()) +
                  " objects on the stack");
    if (pos != data.size())
      return failAt(pos, "trailing bytes after STOP");
    stopped = true;
    return true;
  default:
    if (const char *name = opcodeName(op))
      return fail("unsupported pickle opcode 0x" +
                  llvm::utohexstr(op, true, 2) + " (" + name + ")");
    return fail("unknown pickle opcode 0x" + llvm::utohexstr(op, true, 2));
  }
}

llvm::Expected<TorchPickle> Machine::run() {
  auto failed = [&] {
    return llvm::createStringError(llvm::inconvertibleErrorCode(), error);
  };
  noneObj.kind = Kind::None;
  trueObj.kind = Kind::Bool;
  trueObj.flag = true;
  falseObj.kind = Kind::Bool;
  for (bool stopped = false; !stopped;) {
    opPos = pos;
    if (pos >= data.size()) {
      fail("pickle data ends without STOP");
      return failed();
    }
    uint8_t op;
    if (!readU8(op) || !step(op, stopped))
      return failed();
  }
  std::optional<TorchPickle> out = finish(stack.back());
  if (!out)
    return failed();
  return std::move(*out);
}

} // namespace pickle

llvm::Expected<TorchPickle> parseTorchPickle(llvm::StringRef data,
                                             llvm::StringRef fileName,
                                             llvm::StringRef recordName,
                                             const PickleLimits &limits) {
  pickle::Machine machine(data, fileName, recordName, limits);
  return machine.run();
}

} // namespace qopt::loaders

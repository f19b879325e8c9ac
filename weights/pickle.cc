#include "weights/pickle.h"

#include <cstring>
#include <unordered_map>

#include "base/error.h"

namespace persam {
namespace {

using Kind = PyObject::Kind;

bool StorageDType(const std::string& global, DType* dtype) {
  static const std::pair<const char*, DType> kTypes[] = {
      {"torch.FloatStorage", DType::kF32},  {"torch.HalfStorage", DType::kF16},
      {"torch.BFloat16Storage", DType::kBF16}, {"torch.DoubleStorage", DType::kF64},
      {"torch.LongStorage", DType::kI64},   {"torch.IntStorage", DType::kI32},
      {"torch.ShortStorage", DType::kI16},  {"torch.CharStorage", DType::kI8},
      {"torch.ByteStorage", DType::kU8},    {"torch.BoolStorage", DType::kBool},
  };
  for (const auto& entry : kTypes) {
    if (global == entry.first) {
      *dtype = entry.second;
      return true;
    }
  }
  return false;
}

class Unpickler {
 public:
  Unpickler(const uint8_t* data, size_t size, const std::string& source)
      : p_(data), begin_(data), end_(data + size), source_(source) {}

  PickleResult Run() {
    for (;;) {
      const size_t op_offset = static_cast<size_t>(p_ - begin_);
      op_offset_ = op_offset;
      const uint8_t op = Byte();
      if (op == '.') break;  // STOP
      Step(op);
    }
    if (stack_.size() != 1 || !marks_.empty()) Fail("stack not balanced at STOP");
    PickleResult result;
    result.root = stack_.back();
    result.end_offset = static_cast<size_t>(p_ - begin_);
    result.arena = std::move(arena_);
    return result;
  }

 private:
  [[noreturn]] void Fail(const std::string& what) const {
    throw Error(source_ + ": bad pickle at byte " + std::to_string(op_offset_) + ": " + what);
  }

  void Need(size_t n) const {
    if (static_cast<size_t>(end_ - p_) < n) Fail("truncated (needs " + std::to_string(n) + " more bytes)");
  }
  uint8_t Byte() {
    Need(1);
    return *p_++;
  }
  uint64_t Uint(size_t n) {
    Need(n);
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(p_[i]) << (8 * i);
    p_ += n;
    return v;
  }
  std::string Bytes(uint64_t n) {
    if (n > static_cast<uint64_t>(end_ - p_)) Fail("string of " + std::to_string(n) + " bytes runs past the end");
    std::string s(reinterpret_cast<const char*>(p_), static_cast<size_t>(n));
    p_ += n;
    return s;
  }
  std::string Line() {
    const uint8_t* nl = static_cast<const uint8_t*>(std::memchr(p_, '\n', static_cast<size_t>(end_ - p_)));
    if (nl == nullptr) Fail("unterminated text argument");
    std::string s(reinterpret_cast<const char*>(p_), static_cast<size_t>(nl - p_));
    p_ = nl + 1;
    return s;
  }

  PyObject* New(Kind kind) {
    arena_.push_back(std::make_unique<PyObject>());
    arena_.back()->kind = kind;
    return arena_.back().get();
  }
  PyObject* NewInt(int64_t v) {
    PyObject* o = New(Kind::kInt);
    o->integer = v;
    return o;
  }
  PyObject* NewString(Kind kind, std::string s) {
    PyObject* o = New(kind);
    o->text = std::move(s);
    return o;
  }

  void Push(PyObject* o) { stack_.push_back(o); }
  PyObject* Pop() {
    if (stack_.size() <= (marks_.empty() ? 0 : marks_.back())) Fail("stack underflow");
    PyObject* o = stack_.back();
    stack_.pop_back();
    return o;
  }
  PyObject* Top() {
    if (stack_.size() <= (marks_.empty() ? 0 : marks_.back())) Fail("stack underflow");
    return stack_.back();
  }
  // Pops everything above the last MARK.
  std::vector<PyObject*> PopMark() {
    if (marks_.empty()) Fail("no MARK on the stack");
    const size_t mark = marks_.back();
    marks_.pop_back();
    std::vector<PyObject*> items(stack_.begin() + static_cast<std::ptrdiff_t>(mark), stack_.end());
    stack_.resize(mark);
    return items;
  }
  PyObject* Tuple(std::vector<PyObject*> items) {
    PyObject* o = New(Kind::kTuple);
    o->items = std::move(items);
    return o;
  }
  void AddItems(PyObject* container, const std::vector<PyObject*>& items) {
    if (container->kind == Kind::kList) {
      container->items.insert(container->items.end(), items.begin(), items.end());
    } else if (container->kind != Kind::kObject) {
      Fail("APPEND to something that is not a list");
    }
  }
  void SetItems(PyObject* dict, const std::vector<PyObject*>& kv) {
    if (kv.size() % 2 != 0) Fail("SETITEMS with an odd number of values");
    if (dict->kind == Kind::kObject) return;  // an opaque mapping: ignore its content
    if (dict->kind != Kind::kDict) Fail("SETITEM on something that is not a dict");
    for (size_t i = 0; i < kv.size(); i += 2) {
      // Keys are compared only for strings (state dict names); a repeated key replaces.
      bool replaced = false;
      if (kv[i]->kind == Kind::kString) {
        for (auto& entry : dict->entries) {
          if (entry.first->kind == Kind::kString && entry.first->text == kv[i]->text) {
            entry.second = kv[i + 1];
            replaced = true;
            break;
          }
        }
      }
      if (!replaced) dict->entries.emplace_back(kv[i], kv[i + 1]);
    }
  }
  void Memo(uint64_t index) {
    memo_[index] = Top();
  }
  PyObject* Get(uint64_t index) {
    auto it = memo_.find(index);
    if (it == memo_.end()) Fail("memo key " + std::to_string(index) + " was never stored");
    return it->second;
  }

  static bool IntValue(const PyObject* o, int64_t* v) {
    if (o->kind != Kind::kInt || !o->text.empty()) return false;
    *v = o->integer;
    return true;
  }

  std::vector<int64_t> IntTuple(const PyObject* o, const char* what) {
    if (o->kind != Kind::kTuple && o->kind != Kind::kList) Fail(std::string("tensor ") + what + " is not a tuple");
    std::vector<int64_t> out;
    for (const PyObject* item : o->items) {
      int64_t v;
      if (!IntValue(item, &v) || v < 0) Fail(std::string("tensor ") + what + " holds a non-integer or negative value");
      out.push_back(v);
    }
    return out;
  }

  PyObject* Reduce(PyObject* callable, PyObject* args) {
    if (args->kind != Kind::kTuple) Fail("REDUCE arguments are not a tuple");
    if (callable->kind != Kind::kGlobal) return NewString(Kind::kObject, "?");
    const std::string& name = callable->text;
    if (name == "collections.OrderedDict" || name == "builtins.dict" || name == "__builtin__.dict") {
      return New(Kind::kDict);
    }
    if (name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor") {
      // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
      if (args->items.size() < 4) Fail(name + " with fewer than 4 arguments");
      PyObject* t = New(Kind::kTensor);
      t->storage = args->items[0];
      if (t->storage->kind != Kind::kStorage) Fail(name + ": first argument is not a storage");
      if (!IntValue(args->items[1], &t->storage_offset) || t->storage_offset < 0) {
        Fail(name + ": storage offset is not a non-negative integer");
      }
      t->shape = IntTuple(args->items[2], "size");
      t->strides = IntTuple(args->items[3], "stride");
      if (t->shape.size() != t->strides.size()) Fail(name + ": size and stride differ in length");
      return t;
    }
    if (name == "torch._utils._rebuild_parameter" || name == "torch._utils._rebuild_parameter_with_state") {
      if (args->items.empty()) Fail(name + " without arguments");
      return args->items[0];
    }
    return NewString(Kind::kObject, name);
  }

  PyObject* PersistentLoad(PyObject* pid) {
    // ('storage', torch.XStorage, key, location, numel[, view_metadata (legacy)])
    if (pid->kind != Kind::kTuple || pid->items.size() < 5 || pid->items[0]->kind != Kind::kString ||
        pid->items[0]->text != "storage") {
      Fail("persistent id is not a ('storage', type, key, location, size) tuple");
    }
    PyObject* type = pid->items[1];
    PyObject* key = pid->items[2];
    PyObject* storage = New(Kind::kStorage);
    if (type->kind != Kind::kGlobal || !StorageDType(type->text, &storage->storage_dtype)) {
      Fail("unsupported storage type '" + (type->kind == Kind::kGlobal ? type->text : std::string("?")) +
           "' (expected torch.Float/Half/BFloat16/Double/Long/Int/Short/Char/Byte/BoolStorage)");
    }
    if (key->kind != Kind::kString) Fail("storage key is not a string");
    storage->text = key->text;
    if (!IntValue(pid->items[4], &storage->storage_numel) || storage->storage_numel < 0) {
      Fail("storage size is not a non-negative integer");
    }
    if (pid->items.size() >= 6 && pid->items[5]->kind != Kind::kNone) {
      Fail("legacy storage views are not supported; re-save the checkpoint with a recent PyTorch: "
           "torch.save(torch.load(f), f2)");
    }
    return storage;
  }

  void Step(uint8_t op) {
    switch (op) {
      case 0x80: {  // PROTO
        const uint8_t proto = Byte();
        if (proto > 5) Fail("pickle protocol " + std::to_string(proto) + " is newer than 5");
        break;
      }
      case 0x95: Uint(8); break;  // FRAME: framing is transparent
      case '(': marks_.push_back(stack_.size()); break;
      case '0': Pop(); break;
      case '1': PopMark(); break;
      case '2': Push(Top()); break;
      case 'N': Push(New(Kind::kNone)); break;
      case 0x88: case 0x89: {  // NEWTRUE, NEWFALSE
        PyObject* o = New(Kind::kBool);
        o->integer = op == 0x88;
        Push(o);
        break;
      }
      case 'J': Push(NewInt(static_cast<int32_t>(Uint(4)))); break;
      case 'K': Push(NewInt(static_cast<int64_t>(Uint(1)))); break;
      case 'M': Push(NewInt(static_cast<int64_t>(Uint(2)))); break;
      case 0x8a: case 0x8b: {  // LONG1, LONG4: little-endian two's complement
        const uint64_t n = Uint(op == 0x8a ? 1 : 4);
        const std::string bytes = Bytes(n);
        PyObject* o = New(Kind::kInt);
        if (n <= 8) {
          uint64_t v = 0;
          for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(bytes[i])) << (8 * i);
          if (n > 0 && n < 8 && (static_cast<uint8_t>(bytes[n - 1]) & 0x80)) v |= ~uint64_t{0} << (8 * n);
          o->integer = static_cast<int64_t>(v);
        } else {
          o->text = bytes;  // too wide for int64: keep the bytes (the legacy magic number)
        }
        Push(o);
        break;
      }
      case 'G': {  // BINFLOAT, big-endian double
        Need(8);
        uint64_t bits = 0;
        for (int i = 0; i < 8; ++i) bits = bits << 8 | p_[i];
        p_ += 8;
        PyObject* o = New(Kind::kFloat);
        std::memcpy(&o->real, &bits, 8);
        Push(o);
        break;
      }
      case 'X': Push(NewString(Kind::kString, Bytes(Uint(4)))); break;
      case 0x8c: Push(NewString(Kind::kString, Bytes(Uint(1)))); break;
      case 0x8d: Push(NewString(Kind::kString, Bytes(Uint(8)))); break;
      case 'T': Push(NewString(Kind::kString, Bytes(Uint(4)))); break;  // BINSTRING
      case 'U': Push(NewString(Kind::kString, Bytes(Uint(1)))); break;  // SHORT_BINSTRING
      case 'B': Push(NewString(Kind::kBytes, Bytes(Uint(4)))); break;
      case 'C': Push(NewString(Kind::kBytes, Bytes(Uint(1)))); break;
      case 0x8e: Push(NewString(Kind::kBytes, Bytes(Uint(8)))); break;
      case ')': Push(New(Kind::kTuple)); break;
      case 't': Push(Tuple(PopMark())); break;
      case 0x85: { PyObject* a = Pop(); Push(Tuple({a})); break; }
      case 0x86: { PyObject* b = Pop(); PyObject* a = Pop(); Push(Tuple({a, b})); break; }
      case 0x87: { PyObject* c = Pop(); PyObject* b = Pop(); PyObject* a = Pop(); Push(Tuple({a, b, c})); break; }
      case ']': case 0x8f: Push(New(Kind::kList)); break;  // EMPTY_LIST, EMPTY_SET
      case 'l': case 0x91: {  // LIST, FROZENSET
        PyObject* o = New(Kind::kList);
        o->items = PopMark();
        Push(o);
        break;
      }
      case 'a': { PyObject* v = Pop(); AddItems(Top(), {v}); break; }
      case 'e': case 0x90: { std::vector<PyObject*> items = PopMark(); AddItems(Top(), items); break; }
      case '}': Push(New(Kind::kDict)); break;
      case 'd': {
        std::vector<PyObject*> kv = PopMark();
        PyObject* o = New(Kind::kDict);
        SetItems(o, kv);
        Push(o);
        break;
      }
      case 's': { PyObject* v = Pop(); PyObject* k = Pop(); SetItems(Top(), {k, v}); break; }
      case 'u': { std::vector<PyObject*> kv = PopMark(); SetItems(Top(), kv); break; }
      case 'c': {  // GLOBAL "module\nname\n"
        std::string module = Line();
        std::string name = Line();
        Push(NewString(Kind::kGlobal, module + "." + name));
        break;
      }
      case 0x93: {  // STACK_GLOBAL
        PyObject* name = Pop();
        PyObject* module = Pop();
        if (name->kind != Kind::kString || module->kind != Kind::kString) Fail("STACK_GLOBAL without strings");
        Push(NewString(Kind::kGlobal, module->text + "." + name->text));
        break;
      }
      case 'R': { PyObject* args = Pop(); PyObject* callable = Pop(); Push(Reduce(callable, args)); break; }
      case 0x81: {  // NEWOBJ: cls.__new__(cls, *args): opaque
        Pop();
        PyObject* cls = Pop();
        Push(NewString(Kind::kObject, cls->kind == Kind::kGlobal ? cls->text : "?"));
        break;
      }
      case 0x92: {  // NEWOBJ_EX
        Pop();
        Pop();
        PyObject* cls = Pop();
        Push(NewString(Kind::kObject, cls->kind == Kind::kGlobal ? cls->text : "?"));
        break;
      }
      case 'b': Pop(); Top(); break;  // BUILD: object state (e.g. _metadata) is not needed
      case 'Q': Push(PersistentLoad(Pop())); break;
      case 'q': Memo(Uint(1)); break;
      case 'r': Memo(Uint(4)); break;
      case 0x94: Memo(memo_.size()); break;  // MEMOIZE
      case 'h': Push(Get(Uint(1))); break;
      case 'j': Push(Get(Uint(4))); break;
      default: {
        char hex[8];
        std::snprintf(hex, sizeof(hex), "0x%02x", op);
        Fail(std::string("unsupported opcode ") + hex +
             (op >= 0x20 && op < 0x7f ? std::string(" '") + static_cast<char>(op) + "'" : std::string()));
      }
    }
  }

  const uint8_t* p_;
  const uint8_t* begin_;
  const uint8_t* end_;
  const std::string& source_;
  size_t op_offset_ = 0;
  std::vector<PyObject*> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, PyObject*> memo_;
  std::vector<std::unique_ptr<PyObject>> arena_;
};

}  // namespace

PickleResult Unpickle(const uint8_t* data, size_t size, const std::string& source) {
  return Unpickler(data, size, source).Run();
}

}  // namespace persam

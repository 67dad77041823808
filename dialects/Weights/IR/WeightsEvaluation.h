//===- WeightsEvaluation.h - Evaluating weights values in rows -*- C++ -*-===//
//
// What the evaluation interfaces of the weights dialect exchange
// (WeightsInterfaces.td): a RowBuffer holds a range of rows of a tensor
// (its outermost dimension; a scalar is one row of one element), an
// EvaluationContext gives an op the rows of its operands and the checkpoint
// reader, and an EvaluationError carries the location of the op that could
// not be evaluated. docs/design.md, "Evaluation", describes the contract.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_DIALECTS_WEIGHTS_IR_WEIGHTSEVALUATION_H
#define QOPT_DIALECTS_WEIGHTS_IR_WEIGHTSEVALUATION_H

#include "qopt/Loaders/TensorReader.h"
#include "qopt/Numerics/Calibrated.h"
#include "qopt/Numerics/DType.h"

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Location.h"
#include "mlir/IR/Value.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/Support/Error.h"

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

namespace mlir::qopt::weights {

/// Element type of a DType (unsigned integers become `ui<N>`).
Type toMlirType(MLIRContext *ctx, ::qopt::numerics::DType t);
/// Inverse; nullopt for types a tensor cache cannot hold.
std::optional<::qopt::numerics::DType> fromMlirType(Type t);

/// Leaves new elements uninitialized: every buffer of an evaluation is
/// fully written before it is read, and zero-filling them cost ~10% of a
/// conversion.
/// Bytes of evaluation buffers (UninitVector) the calling thread holds,
/// and the most it held since the last resetPeak: the executor reports the
/// largest per chunk (docs/design.md, "Keeping bytes out of the IR").
struct BufferBytes {
  static void add(size_t n) {
    live() += int64_t(n);
    if (live() > peak())
      peak() = live();
  }
  /// Signed: a buffer may be freed by another thread than its allocator's
  /// (results shared between workers).
  static void sub(size_t n) { live() -= int64_t(n); }
  /// Starts a new peak at the bytes held now; returns the old peak.
  static int64_t resetPeak() {
    int64_t p = peak();
    peak() = live();
    return p;
  }
  static int64_t &live() {
    thread_local int64_t n = 0;
    return n;
  }
  static int64_t &peak() {
    thread_local int64_t n = 0;
    return n;
  }
};

template <typename T>
struct DefaultInitAllocator : std::allocator<T> {
  template <typename U>
  struct rebind {
    using other = DefaultInitAllocator<U>;
  };
  using std::allocator<T>::allocator;
  template <typename U>
  void construct(U *p) noexcept(std::is_nothrow_default_constructible_v<U>) {
    ::new (static_cast<void *>(p)) U;
  }
  template <typename U, typename... Args>
  void construct(U *p, Args &&...args) {
    ::new (static_cast<void *>(p)) U(std::forward<Args>(args)...);
  }
  T *allocate(size_t n) {
    BufferBytes::add(n * sizeof(T));
    return std::allocator<T>::allocate(n);
  }
  void deallocate(T *p, size_t n) {
    BufferBytes::sub(n * sizeof(T));
    std::allocator<T>::deallocate(p, n);
  }
};
template <typename T>
using UninitVector = std::vector<T, DefaultInitAllocator<T>>;

/// What computing some rows of an op's results reads
/// (EvaluableOpInterface::getRowReads): read-ahead hints for a scheduler.
struct RowReads {
  /// Rows [r0, r1) of an operand.
  struct OperandRows {
    Value value;
    int64_t r0, r1;
  };
  /// Bytes [offset, offset + length) of a checkpoint file.
  struct FileBytes {
    std::string path;
    uint64_t offset, length;
  };
  /// Input: when not empty, replaces the model's checkpoint_root in
  /// `fileBytes` paths (as EvaluationOptions::checkpointRoot does).
  StringRef checkpointRoot;
  SmallVector<OperandRows> operandRows;
  SmallVector<FileBytes> fileBytes;
};

/// The default of EvaluableOpInterface::getRowReads: rows [r0, r1) of the
/// first operand when `op` is row-local and that operand has the rank and
/// the rows of the first result.
void getSameRowReads(Operation *op, int64_t r0, int64_t r1, RowReads &reads);

/// Rows of a tensor: its outermost dimension (a scalar is one row).
int64_t getRowCount(RankedTensorType type);

/// A row range of a tensor, materialized row-major.
struct RowBuffer {
  ::qopt::numerics::DType dtype = ::qopt::numerics::DType::U8;
  /// shape[0] is the number of rows held (rank >= 1).
  SmallVector<int64_t> shape;
  UninitVector<uint8_t> data;
  /// When set, the bytes are checkpoint rows mapped from the file (read in
  /// place from the page cache), not `data`.
  std::shared_ptr<const ::qopt::loaders::MappedBytes> mapped;

  /// `rows` rows of a tensor of `type`, allocated and uninitialized.
  static RowBuffer allocate(RankedTensorType type, int64_t rows);
  /// A buffer of `dtype` and `shape`, allocated and uninitialized.
  static RowBuffer allocate(::qopt::numerics::DType dtype,
                            ArrayRef<int64_t> shape);

  const uint8_t *bytes() const {
    return mapped ? mapped->data() : data.data();
  }
  size_t byteSize() const { return mapped ? mapped->size() : data.size(); }
  /// The bytes, writable (mapped rows are copied into `data` first).
  uint8_t *mutableBytes();
  int64_t numElements() const;
  int64_t numRows() const { return shape.empty() ? 1 : shape[0]; }
  size_t rowBytes() const;
};

/// An evaluation failure at a location: the op that could not be evaluated
/// (for a read error, the weights.source naming the tensor).
class EvaluationError : public llvm::ErrorInfo<EvaluationError> {
public:
  static char ID;
  EvaluationError(Location loc, std::string message)
      : loc(loc), message(std::move(message)) {}
  void log(llvm::raw_ostream &os) const override { os << message; }
  std::error_code convertToErrorCode() const override {
    return llvm::inconvertibleErrorCode();
  }
  Location getLocation() const { return loc; }
  const std::string &getMessage() const { return message; }
  /// Prefixes the message (keeps the location).
  void prepend(const llvm::Twine &prefix) { message = (prefix + message).str(); }

private:
  Location loc;
  std::string message;
};

/// An EvaluationError at `op`.
llvm::Error makeEvaluationError(Operation *op, const llvm::Twine &message);

class EvaluationContext;

/// Results of ops that are evaluated once per evaluation and then shared
/// (small whole-tensor results many consumers ask for, such as
/// `weights.awq_scales`), by every context holding the same instance: the
/// executor gives one to all its threads.
class SharedResults {
public:
  using Results = SmallVector<RowBuffer, 1>;
  /// The results of `op`: computed by `compute` the first time, the same
  /// buffers afterwards; a thread asking while another computes them waits.
  /// A failure is not kept (the next caller computes again).
  llvm::Expected<std::shared_ptr<const Results>>
  getOrCompute(Operation *op,
               llvm::function_ref<llvm::Error(Results &)> compute);
  /// The same, but a thread that asks while another computes the results
  /// first helps: it runs the tasks `compute` offers through runTasks (with
  /// its own context, `helper`) that no thread has taken yet, then waits.
  llvm::Expected<std::shared_ptr<const Results>>
  getOrCompute(Operation *op, EvaluationContext &helper,
               llvm::function_ref<llvm::Error(Results &)> compute);

  /// Called by `op`'s compute: runs task(context, i) once for every
  /// i < count, on this thread (with `ctx`) and on the threads waiting for
  /// `op`'s results (with their own contexts), several at a time, in no
  /// fixed order: each task must write only its own outputs, so that the
  /// results do not depend on which thread ran what. Returns when all have
  /// run, with the error of the failing task of the lowest index, if any.
  llvm::Error
  runTasks(Operation *op, EvaluationContext &ctx, size_t count,
           llvm::function_ref<llvm::Error(EvaluationContext &, size_t)> task);

private:
  /// Tasks offered by runTasks.
  struct Offer {
    size_t count = 0;
    llvm::function_ref<llvm::Error(EvaluationContext &, size_t)> task;
    size_t next = 0, finished = 0; // under `mutex`
    std::vector<std::unique_ptr<llvm::ErrorInfoBase>> failures;
  };
  /// Runs `compute` for `op` (marked running) and keeps its results.
  llvm::Expected<std::shared_ptr<const Results>>
  computeShared(Operation *op,
                llvm::function_ref<llvm::Error(Results &)> compute);
  /// Takes and runs tasks of `offer` until none is left; called and
  /// returning with `lock` held.
  void runOffered(Offer &offer, EvaluationContext &ctx,
                  std::unique_lock<std::mutex> &lock);

  std::mutex mutex;
  std::condition_variable done;
  llvm::DenseMap<Operation *, std::shared_ptr<const Results>> results;
  llvm::DenseMap<Operation *, bool> running;
  llvm::DenseMap<Operation *, std::shared_ptr<Offer>> offers;
};

class PreparedStateCache;

/// Options of one evaluation.
struct EvaluationOptions {
  /// Run casts, group and float8 quantization on the CUDA kernels
  /// (qopt/Kernels/Cuda.h; the caller checked for a device).
  bool cuda = false;
  /// Measure the quantization error of quantized values (addError).
  bool measureError = false;
  /// When not empty, replaces each model's checkpoint_root: the directory
  /// the files of weights.source are read from (the checkpoint moved).
  std::string checkpointRoot;
  /// Called on every chunk of source rows as it is read (the weights.source
  /// op, the first row); may change the rows or fail (the non-finite weights
  /// policy, docs/reliability.md). Unset: no check.
  std::function<llvm::Error(Operation *, int64_t, RowBuffer &)>
      checkSourceRows;
  /// Whether checkSourceRows would accept every chunk of the weights.source
  /// whose values all stay finite when rounded to `format` (no clamping,
  /// and `format` the narrowest type its values are cast to), so that a
  /// consumer that finds no NaN or infinity in its rows of that type may
  /// check them instead (EvaluationContext::DeferredSourceChecks). Unset:
  /// never; every source chunk is checked as it is read.
  std::function<bool(Operation *, ::qopt::numerics::DType)>
      sourceCheckFollowsFromFinite;
  /// Shared between the contexts of one evaluation (SharedResults); a
  /// context without one makes its own.
  std::shared_ptr<SharedResults> sharedResults;

  /// When not empty, replaces each model's calibration_file.
  std::string calibrationFile;
  /// Shared by the contexts of one evaluation; null: states are prepared
  /// for every use.
  std::shared_ptr<PreparedStateCache> preparedStates;
};

/// Calibration statistics of the rows a scheme quantizes
/// (QuantSchemeAttrInterface::quantizeRowsCalibrated; docs/calibration.md).
struct CalibrationInput {
  /// The rows belong to `matrices` consecutive weight matrices of equal row
  /// counts: 1 for a 2-D weight, the experts of the chunk for a 3-D one.
  int64_t matrices = 1;
  /// Importance of the input channels: `matrices` rows of K values, or
  /// null.
  const float *importance = nullptr;
  /// GPTQ: one prepared factor per matrix (empty: no GPTQ).
  SmallVector<const ::qopt::numerics::GptqFactor *> gptq;
  ::qopt::numerics::GptqOptions gptqOptions;
};

/// State an op prepares once for all its chunks (the calibration file's
/// index, a GPTQ factorization), shared by the threads of one evaluation.
/// Holds the `capacity` most recently prepared states; an evicted one is
/// freed when its last user lets go, and prepared again if asked for.
class PreparedStateCache {
public:
  explicit PreparedStateCache(size_t capacity) : capacity(capacity) {}

  /// The state of (`key`, `slot`), made by `make` on first use; threads
  /// asking for it meanwhile wait. A failure is returned, not kept.
  llvm::Expected<std::shared_ptr<const void>>
  get(const void *key, unsigned slot,
      llvm::function_ref<llvm::Expected<std::shared_ptr<const void>>()> make);

private:
  struct Entry {
    const void *key;
    unsigned slot;
    std::mutex mutex;
    std::shared_ptr<const void> state;
  };
  size_t capacity;
  std::mutex mutex;
  std::list<std::shared_ptr<Entry>> entries; // most recent first
};

/// What an op sees while it evaluates: the rows of its operands and the
/// checkpoint reader. One context per thread.
class EvaluationContext {
public:
  EvaluationContext(::qopt::loaders::TensorReader &reader,
                    const EvaluationOptions &options)
      : reader(reader), options(options) {
    if (!this->options.sharedResults)
      this->options.sharedResults = std::make_shared<SharedResults>();
  }

  ::qopt::loaders::TensorReader &getReader() { return reader; }
  const EvaluationOptions &getOptions() const { return options; }
  /// Results computed once for all the contexts of this evaluation.
  SharedResults &getSharedResults() { return *options.sharedResults; }

  /// Rows [r0, r1) of `value`, evaluated by its defining op through
  /// EvaluableOpInterface: ops that are not row-local are evaluated whole
  /// and the rows taken from the result. Fails at the op that cannot be
  /// evaluated.
  llvm::Expected<RowBuffer> getRows(Value value, int64_t r0, int64_t r1);
  /// All rows of `value`.
  llvm::Expected<RowBuffer> getAllRows(Value value);
  /// Sub-rows [s0, s1) of row `r` of `value` (a buffer of `s1 - s0` rows
  /// shaped like the value without its first dimension), from its defining
  /// op's evaluateSubRows when it is sub-row local, else cut from row `r`.
  llvm::Expected<RowBuffer> getSubRows(Value value, int64_t r, int64_t s0,
                                       int64_t s1);

  /// The state `make` prepares for (`key`, `slot`), through the options'
  /// PreparedStateCache when there is one.
  template <typename T>
  llvm::Expected<std::shared_ptr<const T>>
  getPrepared(const void *key, unsigned slot,
              llvm::function_ref<llvm::Expected<std::shared_ptr<const T>>()>
                  make) {
    auto erased = [&]() -> llvm::Expected<std::shared_ptr<const void>> {
      llvm::Expected<std::shared_ptr<const T>> s = make();
      if (!s)
        return s.takeError();
      return std::static_pointer_cast<const void>(*s);
    };
    llvm::Expected<std::shared_ptr<const void>> s =
        options.preparedStates ? options.preparedStates->get(key, slot, erased)
                               : erased();
    if (!s)
      return s.takeError();
    return std::static_pointer_cast<const T>(*s);
  }

  /// While one lives, weights.source skips EvaluationOptions::checkSourceRows
  /// where EvaluationOptions::sourceCheckFollowsFromFinite says that values
  /// finite in `format` pass it: the consumer that made it (a
  /// `weights.quantize` whose kernel tells whether its input holds a NaN or
  /// an infinity) reads the sources through ops that forward non-finite
  /// values and evaluates them again, checked, when it finds one, so the
  /// error is the one the checks give (docs/reliability.md).
  class DeferredSourceChecks {
  public:
    DeferredSourceChecks(EvaluationContext &ctx, ::qopt::numerics::DType format)
        : ctx(ctx), saved(ctx.deferredTo) {
      ctx.deferredTo = format;
    }
    ~DeferredSourceChecks() { ctx.deferredTo = saved; }
    DeferredSourceChecks(const DeferredSourceChecks &) = delete;
    DeferredSourceChecks &operator=(const DeferredSourceChecks &) = delete;

  private:
    EvaluationContext &ctx;
    std::optional<::qopt::numerics::DType> saved;
  };
  /// The format of the live DeferredSourceChecks, if any.
  std::optional<::qopt::numerics::DType> getSourceChecksDeferredTo() const {
    return deferredTo;
  }

  /// Adds the quantization error of `n` values: `w` the weight, `wq` its
  /// dequantized form (sums of w^2 and (w - wq)^2, in element order).
  void addError(const float *w, const float *wq, size_t n);
  /// Whether addError was called since the last takeError, and the sums.
  std::tuple<bool, double, double> takeError();

  /// Nanoseconds spent by getRows in the evaluated ops themselves: reading
  /// checkpoint rows (weights.source) and everything else; `childNs` is the
  /// total time of the getRows calls made since it was last reset (the
  /// caller of evaluateRows subtracts it to get an op's own time).
  struct Times {
    uint64_t readNs = 0, otherNs = 0, childNs = 0;
  } times;

private:
  ::qopt::loaders::TensorReader &reader;
  EvaluationOptions options;
  double signal = 0, noise = 0;
  bool measured = false;
  std::optional<::qopt::numerics::DType> deferredTo;
};

/// Whether every op the definition of `value` reaches evaluates row by row
/// (EvaluableOpInterface::isRowLocal), so its rows can be computed in chunks.
bool isRowLocalChain(Value value);
/// Whether the definition of `value` can be computed a sub-row at a time
/// (EvaluableOpInterface::isSubRowLocal): every op down to the rank change
/// (a stack) is sub-row local, and the operands below it are row-local
/// chains (their sub-rows are their rows).
bool isSubRowLocalChain(Value value);
/// Whether the definition of `value` forwards non-finite values from every
/// weights.source it reaches (EvaluableOpInterface::forwardsNonFinite on
/// every op down to them).
bool forwardsNonFiniteChain(Value value);
/// Fails, at the op, when the definition of `value` reaches an op that
/// cannot be evaluated (no EvaluableOpInterface), or, at `user`, a block
/// argument.
llvm::Error checkEvaluable(Value value, Operation *user);

/// The tensor a checkpoint source stands for: `source`'s result, or the
/// ops the importer decodes its stored form with (GGUF block decoding and
/// row unpermutation, GgufEvaluation.cpp), when they are its only users.
Value getCheckpointTensor(Operation *source);

} // namespace mlir::qopt::weights

#endif // QOPT_DIALECTS_WEIGHTS_IR_WEIGHTSEVALUATION_H

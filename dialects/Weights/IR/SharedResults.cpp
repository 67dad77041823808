//===- SharedResults.cpp - Whole-tensor results shared by threads -*- C++ -*-===//
//
// SharedResults (WeightsEvaluation.h): a result computed once per
// evaluation for every thread, and the tasks its computation offers to the
// threads that wait for it.
//
//===----------------------------------------------------------------------===//

#include "dialects/Weights/IR/WeightsEvaluation.h"

using namespace mlir;
using namespace mlir::qopt::weights;

llvm::Expected<std::shared_ptr<const SharedResults::Results>>
SharedResults::getOrCompute(Operation *op,
                            llvm::function_ref<llvm::Error(Results &)> compute) {
  {
    std::unique_lock<std::mutex> lock(mutex);
    done.wait(lock, [&] { return !running.lookup(op); });
    if (auto it = results.find(op); it != results.end())
      return it->second;
    running[op] = true;
  }
  return computeShared(op, compute);
}

llvm::Expected<std::shared_ptr<const SharedResults::Results>>
SharedResults::getOrCompute(Operation *op, EvaluationContext &helper,
                            llvm::function_ref<llvm::Error(Results &)> compute) {
  {
    std::unique_lock<std::mutex> lock(mutex);
    for (;;) {
      done.wait(lock, [&] {
        auto it = offers.find(op);
        return !running.lookup(op) ||
               (it != offers.end() && it->second->next < it->second->count);
      });
      if (!running.lookup(op))
        break;
      std::shared_ptr<Offer> offer = offers.lookup(op);
      runOffered(*offer, helper, lock);
    }
    if (auto it = results.find(op); it != results.end())
      return it->second;
    running[op] = true;
  }
  return computeShared(op, compute);
}

void SharedResults::runOffered(Offer &offer, EvaluationContext &ctx,
                               std::unique_lock<std::mutex> &lock) {
  while (offer.next < offer.count) {
    size_t i = offer.next++;
    lock.unlock();
    llvm::Error err = offer.task(ctx, i);
    lock.lock();
    if (err)
      offer.failures[i] = [&] {
        std::unique_ptr<llvm::ErrorInfoBase> payload;
        llvm::handleAllErrors(std::move(err),
                              [&](std::unique_ptr<llvm::ErrorInfoBase> p) {
                                payload = std::move(p);
                              });
        return payload;
      }();
    ++offer.finished;
    done.notify_all();
  }
}

llvm::Error SharedResults::runTasks(
    Operation *op, EvaluationContext &ctx, size_t count,
    llvm::function_ref<llvm::Error(EvaluationContext &, size_t)> task) {
  auto offer = std::make_shared<Offer>();
  offer->count = count;
  offer->task = task;
  offer->failures.resize(count);
  std::unique_lock<std::mutex> lock(mutex);
  offers[op] = offer;
  done.notify_all();
  runOffered(*offer, ctx, lock);
  done.wait(lock, [&] { return offer->finished == offer->count; });
  offers.erase(op);
  for (auto &failure : offer->failures)
    if (failure)
      return llvm::Error(std::move(failure));
  return llvm::Error::success();
}

llvm::Expected<std::shared_ptr<const SharedResults::Results>>
SharedResults::computeShared(Operation *op,
                             llvm::function_ref<llvm::Error(Results &)> compute) {
  auto out = std::make_shared<Results>();
  llvm::Error err = compute(*out);
  std::lock_guard<std::mutex> lock(mutex);
  running[op] = false;
  done.notify_all();
  if (err)
    return std::move(err);
  results[op] = out;
  return std::shared_ptr<const Results>(std::move(out));
}

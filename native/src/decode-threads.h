// Threads of the decoding products (a few rows against a weight matrix): fixed by
// DIFF_TRANSFORMER_DECODE_THREADS, or chosen at run time by timing both choices.
#pragma once

#include <chrono>

namespace dt {

/**
 * Threads the memory-bound few-row products run on, of `threads`, when not timed: the value of
 * DIFF_TRANSFORMER_DECODE_THREADS, or 1 when it is unset.
 */
int decodeThreads(int threads);

/** DIFF_TRANSFORMER_DECODE_THREADS as given (≥ 1), or 0 when it is unset ("auto": timed). */
int decodeThreadsSetting();

/**
 * The run-time choice for one kind of decoding product, between one thread and all of them.
 * Such a product streams its weight matrix once and is bound by memory bandwidth. On a quiet machine
 * two threads draw more of it (15M-parameter model, 2 vCPUs: 554 against 364 tokens/s); on a loaded
 * one each fork/join waits for the other thread to be scheduled (22–41 against 283–345 tokens/s).
 * So the chooser times both: a trial window of kTrial products each (alternating), then the faster
 * per unit of work for the next kPeriod − 2·kTrial products, then a new trial. The threads only split
 * the output columns, so the numbers are the same whichever it picks. One chooser per product kind
 * and per calling thread (thread_local at the call sites): no locking.
 */
class DecodeThreadChooser {
 public:
  /** Threads for the next product. */
  int pick(int threads);
  /** The product picked last took `seconds` for `work` (m·n·k) on `picked` of `threads` threads. */
  void record(int picked, int threads, double work, double seconds);

 private:
  static constexpr int kTrial = 8, kPeriod = 1024;
  long calls_ = 0;
  bool manyFaster_ = false;
  double seconds_[2] = {0, 0}, work_[2] = {0, 0};
};

/** Runs `product(threads)` on the chooser's pick of `candidates` threads and records how long it took. */
template <class Product>
void runTimed(DecodeThreadChooser& chooser, int candidates, double work, const Product& product) {
  const int picked = chooser.pick(candidates);
  const auto start = std::chrono::steady_clock::now();
  product(picked);
  chooser.record(picked, candidates, work,
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
}

}  // namespace dt

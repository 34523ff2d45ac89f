// Threads of the decoding products: the environment's fixed choice or a timed one (decode-threads.h).
#include "decode-threads.h"

#include <algorithm>
#include <cstdlib>

namespace dt {

int decodeThreadsSetting() {
  static const int configured = [] {
    const char* s = std::getenv("DIFF_TRANSFORMER_DECODE_THREADS");
    const int n = s && *s ? std::atoi(s) : 0;
    return n >= 1 ? n : 0;
  }();
  return configured;
}

int decodeThreads(int threads) {
  const int configured = decodeThreadsSetting();
  return std::min(std::max(1, threads), configured > 0 ? configured : 1);
}

int DecodeThreadChooser::pick(int threads) {
  if (decodeThreadsSetting() > 0 || threads <= 1) return decodeThreads(threads);
  const long phase = calls_ % kPeriod;
  if (phase < 2 * kTrial) return (phase & 1) ? threads : 1;  // trial: alternate the two choices
  return manyFaster_ ? threads : 1;
}

void DecodeThreadChooser::record(int picked, int threads, double work, double seconds) {
  if (decodeThreadsSetting() > 0 || threads <= 1) return;
  const long phase = calls_++ % kPeriod;
  if (phase >= 2 * kTrial) return;
  const int slot = picked > 1 ? 1 : 0;
  seconds_[slot] += seconds;
  work_[slot] += work;
  if (phase == 2 * kTrial - 1) {  // end of the trial: keep the faster per unit of work
    if (work_[0] > 0 && work_[1] > 0) manyFaster_ = seconds_[1] / work_[1] < seconds_[0] / work_[0];
    seconds_[0] = seconds_[1] = work_[0] = work_[1] = 0;
  }
}

}  // namespace dt

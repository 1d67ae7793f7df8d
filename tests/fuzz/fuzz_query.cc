// Fuzz target for query.{h,cc}: answers of the Prometheus query API as a
// receiver (or whatever answers in its place) may send them, read by
// ParseQueryAnswer, native histograms inferred by HistogramFromBuckets. The
// input is the body; its first byte also picks the HTTP status (200 for
// most values, else 400, 422, 503 or 502).
//
// Invariants, besides "no crash, no sanitizer report, no exception":
//   - an accepted answer's rows name series it holds; each series' labels
//     are a flat JSON object, names sorted and unique; a histogram row's
//     JSON parses back (ParseHistogram) to a histogram whose canonical JSON
//     is that text; a float row has no histogram;
//   - a refusal's message is not empty and is valid UTF-8;
//   - an answer that is not a 2xx is never accepted.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "histogram.h"
#include "json.h"
#include "query.h"
#include "text.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body = fuzz::AsText(data, size);
  static constexpr long kStatuses[] = {400, 422, 503, 502};
  const long status = size > 0 && data[0] % 8 == 7 ? kStatuses[(data[0] >> 3) % 4] : 200;
  psink::QueryAnswer answer;
  psink::Status st = psink::ParseQueryAnswer(status, body, &answer);
  if (!st.ok()) {
    FUZZ_CHECK(!st.message().empty(), "a refusal without a message");
    FUZZ_CHECK(psink::IsValidUtf8(st.message()), "a message that is not UTF-8");
    return 0;
  }
  FUZZ_CHECK(status == 200, "an answer with HTTP %ld accepted", status);
  for (const std::string& labels : answer.labels) {
    std::vector<psink::JsonMember> members;
    FUZZ_CHECK(psink::ParseFlatObject(labels, &members).ok(), "labels that are not a flat object: %s", labels.c_str());
    for (size_t i = 1; i < members.size(); ++i) {
      FUZZ_CHECK(members[i - 1].key < members[i].key, "label names not sorted and unique: %s", labels.c_str());
    }
  }
  for (const psink::QueryRow& row : answer.rows) {
    FUZZ_CHECK(row.series < answer.labels.size(), "a row of series %u of %zu", row.series, answer.labels.size());
    if (row.histogram.empty()) continue;
    psink::Histogram h;
    psink::Status parsed = psink::ParseHistogram(row.histogram, "histogram", &h);
    FUZZ_CHECK(parsed.ok(), "a histogram that does not parse back: %s (%s)", row.histogram.c_str(),
               parsed.message().c_str());
    FUZZ_CHECK(psink::HistogramToJson(h, false) == row.histogram, "a histogram not in canonical form: %s",
               row.histogram.c_str());
  }
  return 0;
}

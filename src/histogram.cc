#include "histogram.h"

#include <algorithm>
#include <cfloat>
#include <charconv>
#include <cmath>
#include <limits>

#include "json.h"
#include "text.h"

namespace psink {

namespace {

// client_golang's nativeHistogramBounds for schema 8 (prometheus/histogram.go
// at commit 89c60c05, Apache License 2.0; the same numbers as Prometheus
// 2.42's exponentialBounds): the fractions in [0.5, 1) where schema 8's
// buckets start. Schema s > 0 uses every 2^(8-s)-th entry, which is
// textually the schema's own table in client_golang.
constexpr double kBounds8[256] = {
    0.5, 0.5013556375251013, 0.5027149505564014, 0.5040779490592088,
    0.5054446430258502, 0.5068150424757447, 0.5081891574554764, 0.509566998038869,
    0.5109485743270583, 0.5123338964485679, 0.5137229745593818, 0.5151158188430205,
    0.5165124395106142, 0.5179128468009786, 0.5193170509806894, 0.520725062344158,
    0.5221368912137069, 0.5235525479396449, 0.5249720429003435, 0.526395386502313,
    0.5278225891802786, 0.5292536613972564, 0.5306886136446309, 0.5321274564422321,
    0.5335702003384117, 0.5350168559101208, 0.5364674337629877, 0.5379219445313954,
    0.5393803988785598, 0.5408428074966075, 0.5423091811066545, 0.5437795304588847,
    0.5452538663326288, 0.5467321995364429, 0.5482145409081883, 0.549700901315111,
    0.5511912916539204, 0.5526857228508706, 0.5541842058618393, 0.5556867516724088,
    0.5571933712979462, 0.5587040757836845, 0.5602188762048033, 0.5617377836665098,
    0.5632608093041209, 0.564787964283144, 0.5663192597993595, 0.5678547070789026,
    0.5693943173783458, 0.5709381019847808, 0.572486072215902, 0.5740382394200894,
    0.5755946149764913, 0.5771552102951081, 0.5787200368168754, 0.5802891060137493,
    0.5818624293887887, 0.5834400184762408, 0.585021884841625, 0.5866080400818185,
    0.5881984958251406, 0.5897932637314379, 0.5913923554921704, 0.5929957828304968,
    0.5946035575013605, 0.5962156912915756, 0.5978321960199137, 0.5994530835371903,
    0.6010783657263515, 0.6027080545025619, 0.6043421618132907, 0.6059806996384005,
    0.6076236799902344, 0.6092711149137041, 0.6109230164863786, 0.6125793968185725,
    0.6142402680534349, 0.6159056423670379, 0.6175755319684665, 0.6192499490999082,
    0.620928906036742, 0.622612415087629, 0.6243004885946023, 0.6259931389331581,
    0.6276903785123455, 0.6293922197748583, 0.6310986751971253, 0.6328097572894031,
    0.6345254785958666, 0.6362458516947014, 0.637970889198196, 0.6397006037528346,
    0.6414350080393891, 0.6431741147730128, 0.6449179367033329, 0.6466664866145447,
    0.6484197773255048, 0.6501778216898253, 0.6519406325959679, 0.6537082229673385,
    0.6554806057623822, 0.6572577939746774, 0.659039800633032, 0.6608266388015788,
    0.6626183215798706, 0.6644148621029772, 0.6662162735415805, 0.6680225691020727,
    0.6698337620266515, 0.6716498655934177, 0.6734708931164728, 0.6752968579460171,
    0.6771277734684463, 0.6789636531064505, 0.6808045103191123, 0.6826503586020058,
    0.6845012114872953, 0.6863570825438342, 0.688217985377265, 0.690083933630119,
    0.6919549409819159, 0.6938310211492645, 0.6957121878859629, 0.6975984549830999,
    0.6994898362691555, 0.7013863456101023, 0.7032879969095076, 0.7051948041086352,
    0.7071067811865475, 0.7090239421602076, 0.7109463010845827, 0.7128738720527471,
    0.7148066691959849, 0.7167447066838943, 0.718687998724491, 0.7206365595643126,
    0.7225904034885232, 0.7245495448210174, 0.7265139979245261, 0.7284837772007218,
    0.7304588970903234, 0.7324393720732029, 0.7344252166684908, 0.7364164454346837,
    0.7384130729697496, 0.7404151139112358, 0.7424225829363761, 0.7444354947621984,
    0.7464538641456323, 0.7484777058836176, 0.7505070348132126, 0.7525418658117031,
    0.7545822137967112, 0.7566280937263048, 0.7586795205991071, 0.7607365094544071,
    0.762799075372269, 0.7648672334736434, 0.7669409989204777, 0.7690203869158282,
    0.7711054127039704, 0.7731960915705107, 0.7752924388424999, 0.7773944698885442,
    0.7795022001189185, 0.7816156449856788, 0.7837348199827764, 0.7858597406461707,
    0.7879904225539431, 0.7901268813264122, 0.7922691326262467, 0.7944171921585818,
    0.7965710756711334, 0.7987307989543135, 0.8008963778413465, 0.8030678282083853,
    0.805245165974627, 0.8074284071024302, 0.8096175675974316, 0.8118126635086642,
    0.8140137109286738, 0.8162207259936375, 0.8184337248834821, 0.820652723822003,
    0.8228777390769823, 0.8251087869603088, 0.8273458838280969, 0.8295890460808079,
    0.8318382901633681, 0.8340936325652911, 0.8363550898207981, 0.8386226785089391,
    0.8408964152537144, 0.8431763167241966, 0.8454623996346523, 0.8477546807446661,
    0.8500531768592616, 0.8523579048290255, 0.8546688815502312, 0.8569861239649629,
    0.8593096490612387, 0.8616394738731368, 0.8639756154809185, 0.8663180910111553,
    0.8686669176368529, 0.871022112577578, 0.8733836930995842, 0.8757516765159389,
    0.8781260801866495, 0.8805069215187917, 0.8828942179666361, 0.8852879870317771,
    0.8876882462632604, 0.890095013257712, 0.8925083056594671, 0.8949281411607002,
    0.8973545375015533, 0.8997875124702672, 0.9022270839033115, 0.9046732696855155,
    0.9071260877501991, 0.909585556079304, 0.9120516927035263, 0.9145245157024483,
    0.9170040432046711, 0.9194902933879467, 0.9219832844793128, 0.9244830347552253,
    0.9269895625416926, 0.92950288621441, 0.9320230241988943, 0.9345499949706191,
    0.9370838170551498, 0.93962450902828, 0.9421720895161669, 0.9447265771954693,
    0.9472879907934827, 0.9498563490882775, 0.9524316709088368, 0.9550139751351947,
    0.9576032806985735, 0.9601996065815236, 0.9628029718180622, 0.9654133954938133,
    0.9680308967461471, 0.9706554947643201, 0.9732872087896164, 0.9759260581154889,
    0.9785720620876999, 0.9812252401044634, 0.9838856116165875, 0.9865531961276168,
    0.9892280131939752, 0.9919100824251095, 0.9945994234836328, 0.9972960560854698,
};

// The fraction where bucket j (0 <= j < 2^schema) of an octave starts.
inline double Bound(int schema, int j) { return kBounds8[j << (8 - schema)]; }

std::string Col(std::string_view column) { return "column '" + std::string(column) + "'"; }

// The shortest text that reads back as `v` (finite).
std::string DoubleText(double v) {
  char buf[32];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, p);
}

void AppendDouble(double v, std::string* out) {
  char buf[32];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out->append(buf, p);
}

// A float count: always with a fraction or an exponent, so that it parses
// back as a float count.
void AppendFloatCount(double v, std::string* out) {
  const size_t start = out->size();
  AppendDouble(v, out);
  if (out->find_first_of(".e", start) == std::string::npos) out->append(".0");
}

// A count as written in the JSON: a JSON integer, or a number with a
// fraction or an exponent (a float count).
struct Count {
  bool is_float = false;
  uint64_t u = 0;
  double d = 0;
};

bool WrittenAsInteger(std::string_view number) { return number.find_first_of(".eE") == std::string_view::npos; }

// Reads a double written as a JSON number; false when it is out of range.
bool ReadDouble(std::string_view number, double* out) {
  auto [p, ec] = std::from_chars(number.data(), number.data() + number.size(), *out);
  return ec == std::errc() && p == number.data() + number.size() && std::isfinite(*out);
}

class Reader {
 public:
  Reader(std::string_view json, std::string_view column) : json_(json), column_(column) {}

  // "<column>: <what> in '<json>'".
  Status Fail(const std::string& what) const {
    return Status::Invalid(Col(column_) + ": " + what + " in " + Shorten(json_));
  }

  Status ReadCount(const JsonMember& m, const std::string& what, Count* out) const {
    if (m.kind != JsonMember::Kind::kNumber) {
      return Fail(what + " must be a non-negative number, found " + Shown(m));
    }
    if (m.value[0] == '-' && m.value.find_first_not_of("-0.eE+") != std::string::npos) {
      return Fail(what + " is negative (" + m.value + ")");
    }
    if (WrittenAsInteger(m.value)) {
      std::string_view digits = m.value[0] == '-' ? std::string_view(m.value).substr(1) : std::string_view(m.value);
      auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), out->u);
      if (ec != std::errc() || p != digits.data() + digits.size()) {
        return Fail(what + " " + Shorten(m.value, 40) + " is larger than 2^64-1");
      }
      out->is_float = false;
      out->d = static_cast<double>(out->u);
      return Status::Ok();
    }
    if (!ReadDouble(m.value, &out->d)) return Fail(what + " " + Shorten(m.value, 40) + " is not a finite number");
    out->d = std::fabs(out->d);  // -0.0
    out->is_float = true;
    return Status::Ok();
  }

  static std::string Shown(const JsonMember& m) {
    switch (m.kind) {
      case JsonMember::Kind::kString: return "the string " + Shorten(m.value, 40);
      case JsonMember::Kind::kObject: return "an object";
      case JsonMember::Kind::kNull: return "null";
      default: return m.value;
    }
  }

  // A bucket map: JSON keys are bucket indices.
  Status ReadBuckets(const JsonMember& m, std::vector<std::pair<int32_t, Count>>* out) const {
    out->clear();
    if (m.kind == JsonMember::Kind::kNull) return Status::Ok();
    if (m.kind != JsonMember::Kind::kObject) {
      return Fail("'" + m.key + "' must be an object of bucket index to count, found " + Shown(m));
    }
    for (const JsonMember& b : m.members) {
      int32_t index;
      if (!ParseIndex(b.key, &index)) {
        return Fail("bucket key " + Shorten(b.key, 40) + " of '" + m.key +
                    "' is not an integer bucket index (-2^30 to 2^30, no leading zeros)");
      }
      Count c;
      PSINK_RETURN_IF_ERROR(ReadCount(b, "the count of bucket " + b.key + " of '" + m.key + "'", &c));
      out->emplace_back(index, c);
    }
    std::stable_sort(out->begin(), out->end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    for (size_t i = 1; i < out->size(); ++i) {
      if ((*out)[i].first == (*out)[i - 1].first) {
        return Fail("bucket " + std::to_string((*out)[i].first) + " appears twice in '" + m.key + "'");
      }
    }
    return Status::Ok();
  }

  static bool ParseIndex(std::string_view key, int32_t* out) {
    std::string_view digits = !key.empty() && key[0] == '-' ? key.substr(1) : key;
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string_view::npos) return false;
    if (digits.size() > 1 && digits[0] == '0') return false;  // leading zeros
    if (key[0] == '-' && digits == "0") return false;         // "-0"
    int64_t v = 0;
    auto [p, ec] = std::from_chars(key.data(), key.data() + key.size(), v);
    if (ec != std::errc() || p != key.data() + key.size() || v < -kMaxBucketIndex || v > kMaxBucketIndex) return false;
    *out = static_cast<int32_t>(v);
    return true;
  }

 private:
  std::string_view json_;
  std::string_view column_;
};

}  // namespace

std::string_view ResetHintName(ResetHint hint) {
  switch (hint) {
    case ResetHint::kUnknown: return "unknown";
    case ResetHint::kYes: return "yes";
    case ResetHint::kNo: return "no";
    case ResetHint::kGauge: return "gauge";
  }
  return "unknown";
}

Status ParseHistogram(std::string_view json, std::string_view column, Histogram* out) {
  Reader r(json, column);
  std::vector<JsonMember> members;
  Status st = ParseObject(json, &members);
  if (!st.ok()) return Status::Invalid(Col(column) + ": " + st.message());

  constexpr std::string_view kKeys[] = {"schema", "count", "sum", "zero_threshold", "zero_count",
                                        "positive", "negative", "reset"};
  const JsonMember* found[std::size(kKeys)] = {};
  for (const JsonMember& m : members) {
    auto it = std::find(std::begin(kKeys), std::end(kKeys), m.key);
    if (it == std::end(kKeys)) {
      return r.Fail("unknown key " + Shorten(m.key, 40) +
                    " (expected schema, count, sum, zero_threshold, zero_count, positive, negative, reset)");
    }
    const JsonMember*& slot = found[it - std::begin(kKeys)];
    if (slot != nullptr) return r.Fail("key '" + m.key + "' appears twice");
    slot = &m;
  }
  auto given = [&](size_t k) { return found[k] != nullptr && found[k]->kind != JsonMember::Kind::kNull; };
  const JsonMember *schema = found[0], *count = found[1], *sum = found[2], *zt = found[3], *zc = found[4],
                   *pos = found[5], *neg = found[6], *reset = found[7];

  Histogram h;
  if (!given(0)) return r.Fail("'schema' is missing (an integer from -4 to 8)");
  {
    int64_t s = 0;
    bool ok = schema->kind == JsonMember::Kind::kNumber && WrittenAsInteger(schema->value);
    if (ok) {
      auto [p, ec] = std::from_chars(schema->value.data(), schema->value.data() + schema->value.size(), s);
      ok = ec == std::errc() && s >= kMinSchema && s <= kMaxSchema;
    }
    if (!ok) return r.Fail("'schema' must be an integer from -4 to 8, found " + Reader::Shown(*schema));
    h.schema = static_cast<int32_t>(s);
  }

  if (!given(2)) return r.Fail("'sum' is missing (a number, or \"NaN\", \"+Inf\", \"-Inf\")");
  if (sum->kind == JsonMember::Kind::kNumber) {
    if (!ReadDouble(sum->value, &h.sum)) return r.Fail("'sum' " + Shorten(sum->value, 40) + " is out of range");
  } else if (sum->kind == JsonMember::Kind::kString) {
    std::string_view t = sum->value;
    bool neg_inf = EqualsIgnoreCase(t, "-inf");
    if (EqualsIgnoreCase(t, "nan")) h.sum = std::numeric_limits<double>::quiet_NaN();
    else if (neg_inf || EqualsIgnoreCase(t, "inf") || EqualsIgnoreCase(t, "+inf")) {
      h.sum = neg_inf ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
    } else {
      return r.Fail("'sum' must be a number, or \"NaN\", \"+Inf\", \"-Inf\", found " + Reader::Shown(*sum));
    }
  } else {
    return r.Fail("'sum' must be a number, or \"NaN\", \"+Inf\", \"-Inf\", found " + Reader::Shown(*sum));
  }

  if (given(3)) {
    if (zt->kind != JsonMember::Kind::kNumber || !ReadDouble(zt->value, &h.zero_threshold) || h.zero_threshold < 0) {
      return r.Fail("'zero_threshold' must be a finite number >= 0, found " + Reader::Shown(*zt));
    }
    h.zero_threshold = std::fabs(h.zero_threshold);  // -0
  }
  if (given(7)) {
    bool ok = false;
    if (reset->kind == JsonMember::Kind::kString) {
      for (ResetHint hint : {ResetHint::kUnknown, ResetHint::kYes, ResetHint::kNo, ResetHint::kGauge}) {
        if (EqualsIgnoreCase(reset->value, ResetHintName(hint))) {
          h.reset = hint;
          ok = true;
        }
      }
    }
    if (!ok) return r.Fail("'reset' must be \"unknown\", \"yes\", \"no\" or \"gauge\", found " + Reader::Shown(*reset));
  }

  Count count_v, zero_v;
  if (given(4)) PSINK_RETURN_IF_ERROR(r.ReadCount(*zc, "'zero_count'", &zero_v));
  if (given(1)) PSINK_RETURN_IF_ERROR(r.ReadCount(*count, "'count'", &count_v));
  std::vector<std::pair<int32_t, Count>> pbuckets, nbuckets;
  if (pos != nullptr) PSINK_RETURN_IF_ERROR(r.ReadBuckets(*pos, &pbuckets));
  if (neg != nullptr) PSINK_RETURN_IF_ERROR(r.ReadBuckets(*neg, &nbuckets));

  h.is_float = count_v.is_float || zero_v.is_float;
  for (const auto* side : {&pbuckets, &nbuckets}) {
    for (const auto& [i, c] : *side) h.is_float |= c.is_float;
  }
  auto fill = [&](const std::vector<std::pair<int32_t, Count>>& in, std::vector<Histogram::Bucket>* out) {
    out->clear();
    for (const auto& [i, c] : in) out->push_back(Histogram::Bucket{i, h.is_float ? 0 : c.u, h.is_float ? c.d : 0});
  };
  fill(pbuckets, &h.positive);
  fill(nbuckets, &h.negative);

  if (h.is_float) {
    // Summed in Prometheus's order (negative, positive), then the zero bucket.
    double total = 0;
    for (const auto& b : h.negative) total += b.fcount;
    for (const auto& b : h.positive) total += b.fcount;
    total += zero_v.d;
    if (!std::isfinite(total)) return r.Fail("the counts add up to more than the largest double");
    h.fzero_count = zero_v.d;
    h.fcount = given(1) ? count_v.d : total;
    if (h.fcount < total) {
      return r.Fail("'count' is " + DoubleText(h.fcount) + ", smaller than zero_count plus the buckets (" +
                    DoubleText(total) + ")");
    }
  } else {
    uint64_t total = zero_v.u;
    for (const auto* side : {&h.negative, &h.positive}) {
      for (const auto& b : *side) {
        if (__builtin_add_overflow(total, b.count, &total)) return r.Fail("the counts add up to more than 2^64-1");
      }
    }
    h.zero_count = zero_v.u;
    h.count = given(1) ? count_v.u : total;
    if (h.count < total) {
      return r.Fail("'count' is " + std::to_string(h.count) + ", smaller than zero_count plus the buckets (" +
                    std::to_string(total) + ")");
    }
  }
  *out = std::move(h);
  return Status::Ok();
}

std::string HistogramToJson(const Histogram& h, bool with_reset) {
  std::string out = "{\"schema\":" + std::to_string(h.schema) + ",\"count\":";
  if (h.is_float) AppendFloatCount(h.fcount, &out);
  else out += std::to_string(h.count);
  out += ",\"sum\":";
  if (std::isnan(h.sum)) out += "\"NaN\"";
  else if (std::isinf(h.sum)) out += h.sum > 0 ? "\"+Inf\"" : "\"-Inf\"";
  else AppendDouble(h.sum, &out);
  out += ",\"zero_threshold\":";
  AppendDouble(h.zero_threshold, &out);
  out += ",\"zero_count\":";
  if (h.is_float) AppendFloatCount(h.fzero_count, &out);
  else out += std::to_string(h.zero_count);
  for (const auto* side : {&h.positive, &h.negative}) {
    out += side == &h.positive ? ",\"positive\":{" : ",\"negative\":{";
    for (size_t i = 0; i < side->size(); ++i) {
      const Histogram::Bucket& b = (*side)[i];
      if (i) out += ',';
      out += '"' + std::to_string(b.index) + "\":";
      if (h.is_float) AppendFloatCount(b.fcount, &out);
      else out += std::to_string(b.count);
    }
    out += '}';
  }
  if (with_reset) {
    out += ",\"reset\":\"";
    out += ResetHintName(h.reset);
    out += '"';
  }
  out += '}';
  return out;
}

int32_t BucketIndex(double v, int schema) {
  double a = std::fabs(v);
  const bool inf = std::isinf(a);
  if (inf) a = DBL_MAX;  // client_golang: "pretend v is MaxFloat64 but later increment key by one"
  int exp;
  const double frac = std::frexp(a, &exp);
  int32_t key;
  if (schema > 0) {
    // sort.SearchFloat64s: the first bound >= frac.
    int lo = 0, hi = 1 << schema;
    while (lo < hi) {
      int mid = (lo + hi) / 2;
      if (Bound(schema, mid) < frac) lo = mid + 1;
      else hi = mid;
    }
    key = lo + (exp - 1) * (1 << schema);
  } else {
    key = exp;
    if (frac == 0.5) --key;
    const int32_t offset = (1 << -schema) - 1;
    key = (key + offset) >> -schema;  // arithmetic shift: rounds toward -infinity, as Go's >>
  }
  return inf ? key + 1 : key;
}

double BucketUpperBound(int32_t index, int schema) {
  if (schema < 0) {
    const int64_t exp = static_cast<int64_t>(index) * (int64_t{1} << -schema);
    if (exp == 1024) return DBL_MAX;
    return std::ldexp(1.0, static_cast<int>(std::clamp<int64_t>(exp, -2000, 2000)));
  }
  const double frac = Bound(schema, index & ((1 << schema) - 1));
  const int64_t exp = (static_cast<int64_t>(index) >> schema) + 1;
  if (frac == 0.5 && exp == 1025) return DBL_MAX;
  return std::ldexp(frac, static_cast<int>(std::clamp<int64_t>(exp, -2000, 2000)));
}

void HistogramAccumulator::Counts::Change(int32_t index, int delta) {
  if (counts_.empty()) {
    counts_.assign(1, 0);
    first_ = index;
  } else if (index < first_) {
    // Grow at the front with room to spare, so that a run of ever smaller
    // observations does not move the counts every time.
    const size_t need = static_cast<size_t>(static_cast<int64_t>(first_) - index);
    const size_t grow = std::max(need, counts_.size());
    counts_.insert(counts_.begin(), grow, 0);
    first_ = static_cast<int32_t>(static_cast<int64_t>(first_) - static_cast<int64_t>(grow));
  } else if (static_cast<int64_t>(index) - first_ >= static_cast<int64_t>(counts_.size())) {
    const size_t need = static_cast<size_t>(static_cast<int64_t>(index) - first_) + 1;
    counts_.resize(std::max(need, 2 * counts_.size()), 0);
  }
  uint64_t& c = counts_[static_cast<size_t>(static_cast<int64_t>(index) - first_)];
  if (delta > 0) ++c;
  else if (c > 0) --c;
}

void HistogramAccumulator::Counts::AppendTo(std::vector<Histogram::Bucket>* out) const {
  for (size_t i = 0; i < counts_.size(); ++i) {
    if (counts_[i] != 0) out->push_back(Histogram::Bucket{static_cast<int32_t>(first_ + static_cast<int64_t>(i)), counts_[i], 0});
  }
}

void HistogramAccumulator::Change(double v, int delta) {
  if (delta > 0) ++count_;
  else if (count_ > 0) --count_;
  auto bump = [delta](uint64_t* n) {
    if (delta > 0) ++*n;
    else if (*n > 0) --*n;
  };
  if (std::isnan(v)) {
    bump(&nan_);  // in count and sum, in no bucket
    return;
  }
  if (std::isinf(v)) {
    bump(v > 0 ? &pos_inf_ : &neg_inf_);
  } else {
    // Kahan–Babuška–Neumaier, as SQLite's sum() (func.c).
    const double r = delta > 0 ? v : -v;
    const double s = sum_, t = s + r;
    if (std::fabs(s) > std::fabs(r)) sum_err_ += (s - t) + r;
    else sum_err_ += (r - t) + s;
    sum_ = t;
  }
  if (v > zero_threshold_) positive_.Change(BucketIndex(v, schema_), delta);
  else if (v < -zero_threshold_) negative_.Change(BucketIndex(v, schema_), delta);
  else bump(&zero_count_);
}

void HistogramAccumulator::Get(Histogram* out) const {
  out->schema = schema_;
  out->is_float = false;
  out->reset = ResetHint::kUnknown;
  out->zero_threshold = zero_threshold_;
  out->count = count_;
  out->zero_count = zero_count_;
  out->fcount = out->fzero_count = 0;
  if (nan_ > 0 || (pos_inf_ > 0 && neg_inf_ > 0)) out->sum = std::numeric_limits<double>::quiet_NaN();
  else if (pos_inf_ > 0) out->sum = std::numeric_limits<double>::infinity();
  else if (neg_inf_ > 0) out->sum = -std::numeric_limits<double>::infinity();
  else out->sum = std::isfinite(sum_) ? sum_ + sum_err_ : sum_;
  out->positive.clear();
  out->negative.clear();
  positive_.AppendTo(&out->positive);
  negative_.AppendTo(&out->negative);
}

}  // namespace psink

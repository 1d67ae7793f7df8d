// Options of a prometheus_sink virtual table: parsed from the raw module
// arguments of CREATE VIRTUAL TABLE (SQLite passes them with their quotes),
// validated, with the seed connector's defaults.
//
//   CREATE VIRTUAL TABLE temp.m USING prometheus_sink(
//       url = 'http://127.0.0.1:9090/api/v1/write',   -- required
//       batch_size = 1024, headers = '{"X-Scope-OrgID": "team-a"}',
//       metric = 'node_cpu_seconds_total', host, mode); -- bare words: label columns
//
// Every option -- its name, kind, where its value goes, whether it is
// secret, a line of documentation -- is declared once, in the table
// kOptions in options.cc (OptionTable() below). Parsing, the list of names,
// "did you mean" and the masking of secrets in messages all read that table;
// the README's options table lists the same names and defaults, which
// tests/unit/test_options.cc checks.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "names.h"
#include "secret.h"  // Secret, ResolveSecret
#include "status.h"
#include "url.h"  // MaskUrl, for the many callers that mask the options' URLs

namespace psink {

class OAuth2Tokens;        // oauth2.h
class RateLimiter;         // rate_limit.h
class AwsCredentialCache;  // aws_credentials.h

enum class TimeUnit { kSeconds, kMillis, kMicros, kNanos };

// The remote-write protocol a sink speaks: 1.0 (prometheus.WriteRequest) or
// 2.0 (io.prometheus.write.v2.Request).
enum class Protocol { kV1, kV2 };

// "1.0" or "2.0", as the option is written.
std::string_view ProtocolName(Protocol protocol);

// How the OAuth2 client authenticates to the token endpoint (RFC 6749
// §2.3.1): HTTP Basic (client_secret_basic) or form fields in the body
// (client_secret_post, which Microsoft Entra ID wants).
enum class OAuth2ClientAuth { kBasic, kPost };

// A metric type of the remote-write metadata. The values are the wire values
// of both protocols (1.0 MetricMetadata.MetricType, 2.0 Metadata.MetricType);
// kUnknown is 1.0's UNKNOWN and 2.0's METRIC_TYPE_UNSPECIFIED.
enum class MetricType : uint32_t {
  kUnknown = 0,
  kCounter = 1,
  kGauge = 2,
  kHistogram = 3,
  kGaugeHistogram = 4,
  kSummary = 5,
  kInfo = 6,
  kStateset = 7,
};

// Metadata sent for every metric of a sink (options metric_type,
// metric_help, metric_unit). An empty help or unit is not given.
struct MetricMetadata {
  MetricType type = MetricType::kUnknown;
  std::string help;
  std::string unit;
};


struct SinkOptions {
  std::string url;
  std::string key_label = "labels";
  std::string key_value = "value";
  std::string key_timestamp = "timestamp";
  // The two HIDDEN columns: a native histogram (JSON) instead of the value,
  // and an exemplar (JSON) attached to the row's sample. When not given and
  // the default name is another column's, "_" is appended until it is not.
  std::string key_histogram = "histogram";
  std::string key_exemplar = "exemplar";
  // Remote-write 2.0: a column whose value fills Sample.start_timestamp (the
  // counter's start time), in timestamp_unit. Empty: no such column.
  std::string key_start_timestamp;
  std::vector<std::pair<std::string, std::string>> headers;  // name, value
  int64_t retry = 3;
  int64_t retry_backoff_multiplier_ms = 100;
  int64_t retry_backoff_max_ms = 10000;
  int64_t connect_timeout_ms = 12000;
  int64_t socket_timeout_ms = 60000;
  int64_t batch_size = 1024;
  int64_t flush_interval_ms = 300000;
  int64_t max_request_bytes = 8 << 20;  // uncompressed protobuf per request
  int64_t max_in_flight = 8;            // requests on the wire at once (README: "Concurrent delivery")
  // max_in_flight was not given: one queue until the network is the limit,
  // then max_in_flight shards (see Sink).
  bool max_in_flight_auto = true;
  TimeUnit timestamp_unit = TimeUnit::kMillis;
  // Connection options.
  Secret bearer_token;  // bearer_token, bearer_token_file, bearer_token_env
  std::string username;
  Secret password;  // password, password_file, password_env
  std::string tls_ca_file, tls_cert_file, tls_key_file;
  bool tls_insecure_skip_verify = false;
  std::string proxy_url;  // none: no proxy at all (the environment's *_proxy is ignored)
  bool follow_redirects = false;
  // AWS Signature Version 4: on when sigv4_region is set. Without the two
  // keys, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN are
  // read at each request (see ResolveSigV4Credentials).
  std::string sigv4_region;
  std::string sigv4_service = "aps";
  Secret sigv4_access_key;  // sigv4_access_key, _file, _env
  Secret sigv4_secret_key;  // sigv4_secret_key, _file, _env
  // Without the two keys: the profile of the shared credentials and config
  // files (empty: AWS_PROFILE, else "default"), and a role to assume with
  // whatever the AWS credential chain gives (aws_credentials.h).
  std::string sigv4_profile;
  std::string sigv4_role_arn;
  // The sink's cache of temporary AWS credentials, shared like
  // oauth2_tokens; OptionsFromArgs makes it when sigv4_region is given.
  std::shared_ptr<AwsCredentialCache> aws_credentials;
  // OAuth2 client credentials: on when oauth2_token_url is set.
  std::string oauth2_token_url;
  Secret oauth2_client_id;      // oauth2_client_id, _file, _env
  Secret oauth2_client_secret;  // oauth2_client_secret, _file, _env
  std::string oauth2_scopes;    // space-separated
  std::vector<std::pair<std::string, std::string>> oauth2_params;  // extra form fields, in order
  OAuth2ClientAuth oauth2_client_auth = OAuth2ClientAuth::kBasic;
  // The sink's token cache. OptionsFromArgs makes it when oauth2_token_url is
  // given; every copy of these options shares it, and so every transport
  // of the sink (one per request in flight) uses one token.
  std::shared_ptr<OAuth2Tokens> oauth2_tokens;
  // Samples per second over everything the sink sends (0: no limit), and
  // the limiter that every Delivery made from these options shares (made
  // by OptionsFromArgs; see rate_limit.h).
  int64_t max_samples_per_second = 0;
  std::shared_ptr<RateLimiter> rate_limiter;
  // Reading back (prometheus_query, query.h): the instant-query endpoint,
  // ".../api/v1/query" (the range endpoint is it with "_range" appended);
  // empty: derived from url (QueryEndpoint). And the largest answer read.
  std::string query_url;
  int64_t query_max_bytes = 64 << 20;
  // Durable spool: accepted rows wait in the shadow table <name>_spool.
  bool spool = false;
  int64_t spool_max_rows = 10'000'000;
  // Closing the connection waits this long for the background drain to
  // empty the spool; what is left waits for the next process.
  int64_t spool_close_wait_ms = 5'000;
  // Wide rows: extra columns whose values become labels, in declared order.
  std::vector<std::string> label_columns;
  std::string metric;  // supplies __name__ when not empty
  std::vector<std::pair<std::string, std::string>> external_labels;
  // name_validation_scheme, name_escaping_scheme (names.h). label_columns,
  // `metric` and external_labels keep the names as written; what is sent
  // follows from SendName.
  NameScheme names;
  // Remote-write protocol and metadata.
  Protocol protocol = Protocol::kV1;
  // Set when any of metric_type, metric_help, metric_unit is given; then
  // every request carries it (the unset parts empty, the type kUnknown).
  std::optional<MetricMetadata> metadata;

  bool sigv4() const { return !sigv4_region.empty(); }
  bool oauth2() const { return !oauth2_token_url.empty(); }
};

// Reads the module arguments (without the module, database and table
// names) into *out: `name=value` options through the option table, bare
// words as label columns, then the checks across options (url required,
// one kind of authentication, column names distinct, ...). Every failure
// names the option; an unknown name suggests the closest one.
Status OptionsFromArgs(const std::vector<std::string_view>& args, SinkOptions* out);

// What an option's value is, and so how it is read.
enum class OptionKind {
  kText,        // a string, checked by OptionSpec::check (none: it must not be empty)
  kColumn,      // a column name: [a-zA-Z_][a-zA-Z0-9_]*
  kPath,        // a file path, not empty; CheckEnvironment checks that it is readable
  kBool,        // 1, true, on / 0, false, off (any case)
  kInteger,     // a decimal integer in [lo, hi]
  kEnum,        // one of OptionSpec::values
  kJsonObject,  // a JSON object, read by the target's parser
  kCredential,  // a Secret, as <name> (inline), <name>_file (a path) or <name>_env (a variable name)
};

// How much of an option's value a message may show.
enum class OptionSecrecy {
  kShown,      // the value (shortened)
  kMaskedUrl,  // the value with its user:password@ part masked (MaskUrl)
  kSecret,     // nothing: "the value (not shown)". A kCredential option's
               // inline form; its _file and _env forms hold a path or a
               // variable name and are shown.
};

// One allowed value of a kEnum option, and the number it stands for
// (TimeUnit, Protocol, MetricType as int).
struct OptionEnumValue {
  std::string_view text;
  int value;
};

// Where a kEnum option's value goes, and where it is read back from (-1:
// not set).
struct OptionEnumTarget {
  void (*set)(SinkOptions* out, int value);
  int (*get)(const SinkOptions& opts);
};

// Where an option's value goes in SinkOptions; which one is used follows
// from the kind (checked at compile time in options.cc): a member for
// kText, kColumn, kPath, kBool, kInteger and kCredential, or a setter for
// kText values that live deeper (the metadata); the setter and getter for
// kEnum; the parser for kJsonObject.
using OptionTarget =
    std::variant<std::string SinkOptions::*, int64_t SinkOptions::*, bool SinkOptions::*, Secret SinkOptions::*,
                 void (*)(SinkOptions* out, const std::string& value), OptionEnumTarget,
                 Status (*)(const std::string& json, SinkOptions* out)>;

// The descriptor of one option: a row of kOptions.
struct OptionSpec {
  std::string_view name;
  OptionKind kind;
  OptionTarget target;
  int64_t lo = 0, hi = 0;                        // kInteger: the range, inclusive
  std::span<const OptionEnumValue> values = {};  // kEnum, in the order the message lists them
  bool ignore_case = false;                      // kEnum: values match in any case
  // kText: the check of the (unquoted) value, with its message; none: the
  // value must not be empty.
  Status (*check)(std::string_view option, const std::string& value) = nullptr;
  OptionSecrecy secrecy = OptionSecrecy::kShown;
  std::string_view doc;  // one line: what it does (the README says more)
};

// Every option, one row each (a kCredential row stands for its three forms).
std::span<const OptionSpec> OptionTable();

// Every accepted option name, as written (lower case), in the table's
// order: the table's names, a kCredential option's followed by its _file
// and _env forms.
const std::vector<std::string>& OptionNames();

// Reads one option into *out as OptionsFromArgs does for `name=value`
// (`name` lower case, `value` unquoted), without the checks across options.
// For tests and tools; a CREATE goes through OptionsFromArgs.
Status ApplyOption(std::string_view name, const std::string& value, SinkOptions* out);

// The value `opts` holds for `spec`, written as the option's value would be
// ("1024", "true", "ms"; "" when it holds none), or nullopt when the table
// cannot read it back (kJsonObject, kCredential, a kText setter).
std::optional<std::string> OptionValue(const OptionSpec& spec, const SinkOptions& opts);

// Checks what can only be checked on this machine: that credential files
// and TLS files are readable and credential variables are set. Run by
// CREATE VIRTUAL TABLE, not when an existing schema is reopened (where a
// missing file must not make the table impossible to drop).
Status CheckEnvironment(const SinkOptions& opts);

// True for a valid Prometheus label name: [a-zA-Z_][a-zA-Z0-9_]*.
bool IsValidLabelName(std::string_view name);


}  // namespace psink

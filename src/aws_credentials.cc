#include "aws_credentials.h"

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <memory>
#include <sstream>
#include <vector>

#include "json.h"
#include "oauth2.h"
#include "text.h"
#include "transport.h"
#include "url.h"

namespace psink {

namespace {

int64_t WallNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The variable's value, "" when unset.
std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

bool HasControl(std::string_view v) {
  for (unsigned char c : v) {
    if (c < 0x20 || c == 0x7f) return true;
  }
  return false;
}

// A whole file; false when it cannot be read.
bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream buf;
  buf << in.rdbuf();
  if (!in && !in.eof()) return false;
  *out = buf.str();
  return true;
}

std::string TrimLine(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

// Keys are complete and carry nothing that cannot go in a header.
Status CheckKeys(const SigV4Credentials& c, const std::string& source) {
  if (c.access_key.empty() || c.secret_key.empty()) {
    return Status::Failed("sigv4: " + source + " gave no access key id or no secret access key");
  }
  if (HasControl(c.access_key) || HasControl(c.secret_key) || HasControl(c.session_token)) {
    return Status::Failed("sigv4: " + source + " gave a credential with a control character (not shown)");
  }
  return Status::Ok();
}

// --- 2. the environment

// Whether the environment names keys (either variable set).
bool EnvConfigured() { return !Env("AWS_ACCESS_KEY_ID").empty() || !Env("AWS_SECRET_ACCESS_KEY").empty(); }

Status FromEnvironment(SigV4Credentials* out) {
  auto read = [](const char* var, bool required, std::string* value) -> Status {
    value->assign(Env(var));
    if (required && value->empty()) {
      return Status::Failed(std::string("sigv4: environment variable ") + var +
                            " is not set (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give the options "
                            "sigv4_access_key and sigv4_secret_key)");
    }
    if (HasControl(*value)) {
      return Status::Failed(std::string("sigv4: environment variable ") + var +
                            " contains a control character (not shown)");
    }
    return Status::Ok();
  };
  PSINK_RETURN_IF_ERROR(read("AWS_ACCESS_KEY_ID", true, &out->access_key));
  PSINK_RETURN_IF_ERROR(read("AWS_SECRET_ACCESS_KEY", true, &out->secret_key));
  return read("AWS_SESSION_TOKEN", false, &out->session_token);
}

// --- STS (3. web identity, and sigv4_role_arn)

std::string StsEndpoint(const SinkOptions& opts) {
  std::string url = Env("AWS_ENDPOINT_URL_STS");
  if (url.empty()) url = "https://sts." + opts.sigv4_region + ".amazonaws.com";
  if (url.back() != '/' && url.find('/', url.find("://") + 3) == std::string::npos) url += '/';
  return url;
}

std::string SessionName() {
  std::string name = Env("AWS_ROLE_SESSION_NAME");
  return name.empty() ? "prometheus_sink-" + std::to_string(WallNowMs() / 1000) : name;
}

// An STS action (form POST) and its credentials; `signer` null: unsigned.
Status CallSts(const SinkOptions& opts, const std::string& source, const std::string& form,
               const SigV4Credentials* signer, const std::vector<std::string>& secrets, SigV4Credentials* out) {
  HttpCall call;
  call.method = "POST";
  call.url = StsEndpoint(opts);
  call.headers = {"Content-Type: application/x-www-form-urlencoded", "Accept: application/xml"};
  call.body = form;
  call.proxy = opts.proxy_url;
  if (signer != nullptr) {
    call.sigv4 = signer;
    call.sigv4_scope = "aws:amz:" + opts.sigv4_region + ":sts";
  }
  const std::string where = source + " (STS at " + MaskUrl(call.url) + ")";
  HttpAnswer answer;
  Status st = HttpExchange(call, &answer, secrets);
  if (!st.ok()) return Status::Failed("sigv4: " + where + ": " + st.message());
  if (answer.status < 200 || answer.status > 299) {
    return Status::Failed("sigv4: " + where + ": HTTP " + std::to_string(answer.status) + ": " +
                          HideSecrets(DescribeStsError(answer.body), secrets));
  }
  return ParseStsCredentials(answer.body, "sigv4: " + where, out);
}

bool WebIdentityConfigured() { return !Env("AWS_WEB_IDENTITY_TOKEN_FILE").empty(); }

Status FromWebIdentity(const SinkOptions& opts, SigV4Credentials* out) {
  const std::string source = "web identity";
  const std::string file = Env("AWS_WEB_IDENTITY_TOKEN_FILE"), role = Env("AWS_ROLE_ARN");
  if (role.empty()) {
    return Status::Failed("sigv4: " + source + ": AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not");
  }
  std::string token;
  if (!ReadFile(file, &token) || (token = TrimLine(token)).empty()) {
    return Status::Failed("sigv4: " + source + ": cannot read the token file " + Shorten(file, 200) +
                          " (AWS_WEB_IDENTITY_TOKEN_FILE)");
  }
  const std::string form = "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=" + FormEncode(role) +
                           "&RoleSessionName=" + FormEncode(SessionName()) +
                           "&WebIdentityToken=" + FormEncode(token);
  return CallSts(opts, source, form, nullptr, {token, FormEncode(token)}, out);
}

Status AssumeRole(const SinkOptions& opts, const SigV4Credentials& with, SigV4Credentials* out) {
  const std::string form = "Action=AssumeRole&Version=2011-06-15&RoleArn=" + FormEncode(opts.sigv4_role_arn) +
                           "&RoleSessionName=" + FormEncode(SessionName());
  return CallSts(opts, "sigv4_role_arn " + opts.sigv4_role_arn, form, &with,
                 {with.secret_key, with.session_token}, out);
}

// --- 4. the shared credentials and config files

std::string HomeFile(const char* var, const char* name) {
  std::string path = Env(var);
  if (!path.empty()) return path;
  std::string home = Env("HOME");
  return home.empty() ? "" : home + "/.aws/" + name;
}

struct ProfileLookup {
  std::string name;
  bool named = false;  // chosen by sigv4_profile or AWS_PROFILE, not the default
  std::string credentials_file, config_file;
};

ProfileLookup Profile(const SinkOptions& opts) {
  ProfileLookup p;
  p.name = opts.sigv4_profile.empty() ? Env("AWS_PROFILE") : opts.sigv4_profile;
  p.named = !p.name.empty();
  if (!p.named) p.name = "default";
  p.credentials_file = HomeFile("AWS_SHARED_CREDENTIALS_FILE", "credentials");
  p.config_file = HomeFile("AWS_CONFIG_FILE", "config");
  return p;
}

// The profile's keys from the files (the credentials file first, then
// the config file's [profile <name>] or [default]). *found: the profile
// exists in either file.
void ReadProfile(const ProfileLookup& p, bool* found, SigV4Credentials* out) {
  *found = false;
  std::string text;
  if (!p.credentials_file.empty() && ReadFile(p.credentials_file, &text)) {
    ReadIniProfile(text, p.name, found, out);
  }
  if (!p.config_file.empty() && ReadFile(p.config_file, &text)) {
    bool in_config = false;
    SigV4Credentials from_config;
    ReadIniProfile(text, p.name == "default" ? "default" : "profile " + p.name, &in_config, &from_config);
    if (in_config) {
      *found = true;
      if (out->access_key.empty()) out->access_key = from_config.access_key;
      if (out->secret_key.empty()) out->secret_key = from_config.secret_key;
      if (out->session_token.empty()) out->session_token = from_config.session_token;
    }
  }
}

Status FromProfile(const ProfileLookup& p, SigV4Credentials* out) {
  bool found = false;
  ReadProfile(p, &found, out);
  const std::string source = "profile '" + p.name + "' (" + p.credentials_file + ", " + p.config_file + ")";
  if (!found) return Status::Failed("sigv4: " + source + ": no such profile");
  if (out->access_key.empty() || out->secret_key.empty()) {
    return Status::Failed("sigv4: " + source +
                          ": no aws_access_key_id and aws_secret_access_key (other kinds of profile, such as "
                          "role_arn or sso, are not supported: use sigv4_role_arn)");
  }
  return CheckKeys(*out, source);
}

// --- 5. container credentials

bool ContainerConfigured() {
  return !Env("AWS_CONTAINER_CREDENTIALS_FULL_URI").empty() || !Env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI").empty();
}

// Plain http may go only to loopback or to the link-local addresses that
// ECS and EKS Pod Identity use, as the SDKs allow.
Status CheckContainerUrl(const std::string& url) {
  std::string s, h;
  if (!UrlSchemeAndHost(url, &s, &h) || (s != "http" && s != "https")) {
    return Status::Failed("sigv4: container credentials: " + Shorten(MaskUrl(url), 120) +
                          " is not an http(s) URL (AWS_CONTAINER_CREDENTIALS_FULL_URI)");
  }
  if (s == "https") return Status::Ok();
  const bool allowed = h.rfind("127.", 0) == 0 || h == "[::1]" || h == "localhost" || h == "169.254.170.2" ||
                       h == "169.254.170.23" || h == "[fd00:ec2::23]";
  if (!allowed) {
    return Status::Failed("sigv4: container credentials: plain http to " + Shorten(h) +
                          " refused: only loopback, 169.254.170.2, 169.254.170.23 and fd00:ec2::23 may be "
                          "reached without TLS");
  }
  return Status::Ok();
}

std::string ContainerUrl() {
  std::string full = Env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
  std::string relative = Env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
  // The SDKs take the relative URI first when both are set.
  return relative.empty() ? full : "http://169.254.170.2" + relative;
}

Status FromContainer(SigV4Credentials* out) {
  const std::string url = ContainerUrl();
  PSINK_RETURN_IF_ERROR(CheckContainerUrl(url));
  const std::string source = "container credentials at " + MaskUrl(url);
  std::string token;
  const std::string token_file = Env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
  if (!token_file.empty()) {
    if (!ReadFile(token_file, &token)) {
      return Status::Failed("sigv4: " + source + ": cannot read " + Shorten(token_file, 200) +
                            " (AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE)");
    }
    token = TrimLine(token);
  } else {
    token = Env("AWS_CONTAINER_AUTHORIZATION_TOKEN");
  }
  if (HasControl(token)) {
    return Status::Failed("sigv4: " + source + ": the authorization token contains a control character (not shown)");
  }
  HttpCall call;
  call.url = url;
  call.headers = {"Accept: application/json"};
  if (!token.empty()) call.headers.push_back("Authorization: " + token);
  HttpAnswer answer;
  Status st = HttpExchange(call, &answer, {token});
  if (!st.ok()) return Status::Failed("sigv4: " + source + ": " + st.message());
  if (answer.status != 200) {
    return Status::Failed("sigv4: " + source + ": HTTP " + std::to_string(answer.status) + ": " +
                          Shorten(HideSecrets(std::string(Trim(answer.body)), {token}), 200));
  }
  return ParseAwsCredentialsJson(answer.body, "sigv4: " + source, out);
}

// --- 6. IMDSv2

bool ImdsDisabled() {
  std::string v = Env("AWS_EC2_METADATA_DISABLED");
  return EqualsIgnoreCase(v, "true");
}

Status FromImds(SigV4Credentials* out) {
  std::string base = Env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
  if (base.empty()) base = "http://169.254.169.254";
  while (!base.empty() && base.back() == '/') base.pop_back();
  const std::string source = "EC2 instance metadata (IMDSv2) at " + MaskUrl(base);
  // The SDKs' timeouts: an instance answers at once; elsewhere the address
  // goes nowhere, and the chain should not hang on it.
  HttpCall call;
  call.connect_timeout_ms = 1000;
  call.timeout_ms = 2000;
  call.method = "PUT";
  call.url = base + "/latest/api/token";
  call.headers = {"X-aws-ec2-metadata-token-ttl-seconds: 21600"};
  HttpAnswer answer;
  Status st = HttpExchange(call, &answer);
  if (!st.ok()) return Status::Failed("sigv4: " + source + ": " + st.message());
  if (answer.status != 200 || answer.body.empty()) {
    return Status::Failed("sigv4: " + source + ": the token request (PUT /latest/api/token) was answered HTTP " +
                          std::to_string(answer.status));
  }
  const std::string token = answer.body;
  if (HasControl(token)) return Status::Failed("sigv4: " + source + ": the session token is malformed");
  call.method = "GET";
  call.body.clear();
  call.headers = {"X-aws-ec2-metadata-token: " + token};
  call.url = base + "/latest/meta-data/iam/security-credentials/";
  st = HttpExchange(call, &answer, {token});
  if (!st.ok()) return Status::Failed("sigv4: " + source + ": " + st.message());
  std::string role = std::string(Trim(answer.body.substr(0, answer.body.find('\n'))));
  if (answer.status != 200 || role.empty()) {
    return Status::Failed("sigv4: " + source + ": no instance role (GET /latest/meta-data/iam/security-credentials/ "
                          "answered HTTP " + std::to_string(answer.status) + ")");
  }
  call.url += role;
  st = HttpExchange(call, &answer, {token});
  if (!st.ok()) return Status::Failed("sigv4: " + source + ": " + st.message());
  if (answer.status != 200) {
    return Status::Failed("sigv4: " + source + ": the credentials of role " + Shorten(role) + " answered HTTP " +
                          std::to_string(answer.status));
  }
  return ParseAwsCredentialsJson(answer.body, "sigv4: " + source, out);
}

Status FromOptions(const SinkOptions& opts, SigV4Credentials* out) {
  PSINK_RETURN_IF_ERROR(ResolveSecret(opts.sigv4_access_key, "sigv4_access_key", &out->access_key));
  return ResolveSecret(opts.sigv4_secret_key, "sigv4_secret_key", &out->secret_key);
}

// The chain (without the role).
Status FromChain(const SinkOptions& opts, SigV4Credentials* out) {
  if (!opts.sigv4_access_key.empty()) return FromOptions(opts, out);
  if (EnvConfigured()) return FromEnvironment(out);
  std::shared_ptr<AwsCredentialCache> cache =
      opts.aws_credentials ? opts.aws_credentials : std::make_shared<AwsCredentialCache>();
  if (WebIdentityConfigured()) {
    return cache->Get(AwsCredentialCache::kChain, [&](SigV4Credentials* c) { return FromWebIdentity(opts, c); },
                      WallNowMs(), out);
  }
  const ProfileLookup profile = Profile(opts);
  bool found = false;
  SigV4Credentials scratch;
  ReadProfile(profile, &found, &scratch);
  // A profile asked for by name must be there; the default one is only
  // one source among others.
  if (found || profile.named) return FromProfile(profile, out);
  if (ContainerConfigured()) {
    return cache->Get(AwsCredentialCache::kChain, [&](SigV4Credentials* c) { return FromContainer(c); }, WallNowMs(),
                      out);
  }
  if (!ImdsDisabled()) {
    return cache->Get(AwsCredentialCache::kChain, [&](SigV4Credentials* c) { return FromImds(c); }, WallNowMs(),
                      out);
  }
  return Status::Failed(
      "sigv4: no AWS credentials: none of sigv4_access_key/sigv4_secret_key, AWS_ACCESS_KEY_ID/"
      "AWS_SECRET_ACCESS_KEY, AWS_WEB_IDENTITY_TOKEN_FILE, a profile 'default' in " +
      profile.credentials_file + " or " + profile.config_file +
      ", AWS_CONTAINER_CREDENTIALS_FULL_URI/_RELATIVE_URI; and AWS_EC2_METADATA_DISABLED=true turns IMDS off");
}

// Where `needle` (an XML element's text) is in `xml`, "" when absent.
std::string XmlText(std::string_view xml, std::string_view name) {
  const std::string open = "<" + std::string(name) + ">", close = "</" + std::string(name) + ">";
  size_t a = xml.find(open);
  if (a == std::string_view::npos) return "";
  a += open.size();
  size_t b = xml.find(close, a);
  if (b == std::string_view::npos) return "";
  std::string text(Trim(xml.substr(a, b - a)));
  // The five predefined entities, which a token may carry.
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '&') {
      static const std::pair<std::string_view, char> kEntities[] = {
          {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
      bool done = false;
      for (const auto& [e, c] : kEntities) {
        if (std::string_view(text).substr(i, e.size()) == e) {
          out += c;
          i += e.size() - 1;
          done = true;
          break;
        }
      }
      if (done) continue;
    }
    out += text[i];
  }
  return out;
}

}  // namespace

int64_t ParseIso8601Ms(std::string_view t) {
  // YYYY-MM-DDTHH:MM:SS[.fff][Z|+HH:MM|-HH:MM]
  auto num = [&](size_t pos, size_t len, int* out) {
    if (pos + len > t.size()) return false;
    int v = 0;
    for (size_t i = pos; i < pos + len; ++i) {
      if (t[i] < '0' || t[i] > '9') return false;
      v = v * 10 + (t[i] - '0');
    }
    *out = v;
    return true;
  };
  std::tm tm{};
  int y, mo, d, h, mi, s;
  if (!num(0, 4, &y) || t.size() < 19 || t[4] != '-' || !num(5, 2, &mo) || t[7] != '-' || !num(8, 2, &d) ||
      (t[10] != 'T' && t[10] != 't' && t[10] != ' ') || !num(11, 2, &h) || t[13] != ':' || !num(14, 2, &mi) ||
      t[16] != ':' || !num(17, 2, &s)) {
    return -1;
  }
  size_t i = 19;
  int64_t frac_ms = 0;
  if (i < t.size() && t[i] == '.') {
    int64_t scale = 100;
    for (++i; i < t.size() && t[i] >= '0' && t[i] <= '9'; ++i) {
      frac_ms += (t[i] - '0') * scale;
      scale /= 10;
    }
  }
  int64_t offset_s = 0;
  if (i < t.size() && (t[i] == 'Z' || t[i] == 'z')) {
    ++i;
  } else if (i < t.size() && (t[i] == '+' || t[i] == '-')) {
    int oh, om;
    if (!num(i + 1, 2, &oh) || i + 3 >= t.size() || t[i + 3] != ':' || !num(i + 4, 2, &om)) return -1;
    offset_s = (t[i] == '+' ? 1 : -1) * (oh * 3600 + om * 60);
    i += 6;
  } else {
    return -1;
  }
  if (i != t.size()) return -1;
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  const int64_t secs = static_cast<int64_t>(timegm(&tm)) - offset_s;
  return secs * 1000 + frac_ms;
}

void ReadIniProfile(std::string_view text, std::string_view section, bool* found, SigV4Credentials* out) {
  bool inside = false;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = std::min(text.find('\n', pos), text.size());
    std::string_view line = Trim(text.substr(pos, end - pos));
    pos = end + 1;
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[') {
      size_t close = line.find(']');
      inside = close != std::string_view::npos && Trim(line.substr(1, close - 1)) == section;
      if (inside) *found = true;
      continue;
    }
    if (!inside) continue;
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view key = Trim(line.substr(0, eq)), value = Trim(line.substr(eq + 1));
    if (key == "aws_access_key_id") out->access_key = value;
    if (key == "aws_secret_access_key") out->secret_key = value;
    if (key == "aws_session_token") out->session_token = value;
  }
}

Status ParseAwsCredentialsJson(std::string_view body, std::string_view source, SigV4Credentials* out) {
  std::vector<JsonMember> members;
  if (!ParseObjectScalars(body, &members, /*show_text=*/false).ok()) {
    return Status::Failed(std::string(source) + ": the answer is not a JSON object");
  }
  std::string expiration, code;
  *out = SigV4Credentials();
  for (const JsonMember& m : members) {
    if (m.kind != JsonMember::Kind::kString) continue;
    if (m.key == "AccessKeyId") out->access_key = m.value;
    if (m.key == "SecretAccessKey") out->secret_key = m.value;
    if (m.key == "Token") out->session_token = m.value;
    if (m.key == "Expiration") expiration = m.value;
    if (m.key == "Code") code = m.value;
  }
  if (!code.empty() && code != "Success") {
    return Status::Failed(std::string(source) + ": the answer's Code is " + Shorten(code));
  }
  if (!expiration.empty()) {
    out->expires_ms = ParseIso8601Ms(expiration);
    if (out->expires_ms < 0) {
      return Status::Failed(std::string(source) + ": unreadable Expiration " + Shorten(expiration));
    }
  }
  return CheckKeys(*out, std::string(source.substr(source.rfind("sigv4: ", 0) == 0 ? 7 : 0)));
}

Status ParseStsCredentials(std::string_view body, std::string_view source, SigV4Credentials* out) {
  *out = SigV4Credentials();
  size_t creds = body.find("<Credentials>");
  if (creds == std::string_view::npos) {
    return Status::Failed(std::string(source) + ": the answer holds no Credentials");
  }
  std::string_view xml = body.substr(creds);
  out->access_key = XmlText(xml, "AccessKeyId");
  out->secret_key = XmlText(xml, "SecretAccessKey");
  out->session_token = XmlText(xml, "SessionToken");
  std::string expiration = XmlText(xml, "Expiration");
  if (!expiration.empty()) {
    out->expires_ms = ParseIso8601Ms(expiration);
    if (out->expires_ms < 0) {
      return Status::Failed(std::string(source) + ": unreadable Expiration " + Shorten(expiration));
    }
  }
  return CheckKeys(*out, std::string(source.substr(source.rfind("sigv4: ", 0) == 0 ? 7 : 0)));
}

std::string DescribeStsError(std::string_view body) {
  std::string code = XmlText(body, "Code"), message = XmlText(body, "Message");
  if (!code.empty()) return Shorten(message.empty() ? code : code + ": " + message, 300);
  return "'" + Shorten(Trim(body), 200) + "'";
}

Status AwsCredentialCache::Get(Slot slot, const Fetch& fetch, int64_t now_ms, SigV4Credentials* out) {
  std::lock_guard<std::mutex> lock(mu_);
  SigV4Credentials& c = cached_[slot];
  if (valid_[slot] && (c.expires_ms == 0 || now_ms < c.expires_ms - kRenewBeforeMs)) {
    *out = c;
    return Status::Ok();
  }
  valid_[slot] = false;
  SigV4Credentials fresh;
  PSINK_RETURN_IF_ERROR(fetch(&fresh));
  ++fetches_;
  c = fresh;
  valid_[slot] = true;
  *out = std::move(fresh);
  return Status::Ok();
}

uint64_t AwsCredentialCache::fetches() const {
  std::lock_guard<std::mutex> lock(mu_);
  return fetches_;
}

Status ResolveSigV4Credentials(const SinkOptions& opts, SigV4Credentials* out) {
  *out = SigV4Credentials();
  PSINK_RETURN_IF_ERROR(FromChain(opts, out));
  if (opts.sigv4_role_arn.empty()) return Status::Ok();
  const SigV4Credentials base = *out;
  std::shared_ptr<AwsCredentialCache> cache =
      opts.aws_credentials ? opts.aws_credentials : std::make_shared<AwsCredentialCache>();
  return cache->Get(AwsCredentialCache::kRole, [&](SigV4Credentials* c) { return AssumeRole(opts, base, c); },
                    WallNowMs(), out);
}

Status CheckSigV4Credentials(const SinkOptions& opts) {
  SigV4Credentials scratch;
  if (!opts.sigv4_access_key.empty()) return FromOptions(opts, &scratch);
  if (EnvConfigured()) return FromEnvironment(&scratch);
  if (WebIdentityConfigured()) {
    if (Env("AWS_ROLE_ARN").empty()) {
      return Status::Failed("sigv4: web identity: AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not");
    }
    return Status::Ok();
  }
  const ProfileLookup profile = Profile(opts);
  bool found = false;
  ReadProfile(profile, &found, &scratch);
  if (found || profile.named) return FromProfile(profile, &scratch);
  if (ContainerConfigured()) return CheckContainerUrl(ContainerUrl());
  if (!ImdsDisabled()) return Status::Ok();
  return FromChain(opts, &scratch);  // says that nothing is configured
}

}  // namespace psink

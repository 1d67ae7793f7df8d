#include "json.h"

#include "text.h"

namespace psink {

namespace {

class Parser {
 public:
  // `skip_nested`: a member whose value is an object or array is left out.
  // `nested`: a member's value may be a flat object (one level).
  Parser(std::string_view s, bool show_text, bool skip_nested, bool nested = false)
      : s_(s), show_text_(show_text), skip_nested_(skip_nested), nested_(nested) {}

  Status Parse(std::vector<JsonMember>* out) {
    PSINK_RETURN_IF_ERROR(Members(out, nested_));
    return End();
  }

 private:
  // An object's members, from its '{' to its '}'.
  Status Members(std::vector<JsonMember>* out, bool nested) {
    out->clear();
    SkipWs();
    if (!Eat('{')) return Fail("expected a JSON object '{'");
    SkipWs();
    if (Eat('}')) return Status::Ok();
    for (;;) {
      SkipWs();
      JsonMember m;
      if (Peek() != '"') return Fail("expected a string key");
      PSINK_RETURN_IF_ERROR(String(&m.key));
      SkipWs();
      if (!Eat(':')) return Fail("expected ':'");
      SkipWs();
      if (skip_nested_ && (Peek() == '{' || Peek() == '[')) {
        PSINK_RETURN_IF_ERROR(SkipNested());
        SkipWs();
        if (Eat(',')) continue;
        if (Eat('}')) return Status::Ok();
        return Fail("expected ',' or '}'");
      }
      if (nested && Peek() == '{') {
        m.kind = JsonMember::Kind::kObject;
        PSINK_RETURN_IF_ERROR(Members(&m.members, false));
      } else {
        PSINK_RETURN_IF_ERROR(Value(&m));
      }
      out->push_back(std::move(m));
      SkipWs();
      if (Eat(',')) continue;
      if (Eat('}')) return Status::Ok();
      return Fail("expected ',' or '}'");
    }
  }

  char Peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  bool AtEnd() const { return pos_ >= s_.size(); }
  bool Eat(char c) {
    if (!AtEnd() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  void SkipWs() {
    while (!AtEnd() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_;
  }

  Status Fail(std::string_view what) const {
    std::string msg = "invalid JSON at offset " + std::to_string(pos_) + ": " + std::string(what);
    if (!show_text_) return Status::Invalid(std::move(msg));
    msg += AtEnd() ? ", found the end" : ", found " + Shorten(s_.substr(pos_), 12);
    msg += " in " + Shorten(s_);
    return Status::Invalid(std::move(msg));
  }

  Status End() {
    SkipWs();
    if (!AtEnd()) return Fail("expected the end of the object");
    return Status::Ok();
  }

  Status Value(JsonMember* m) {
    char c = Peek();
    if (c == '"') {
      m->kind = JsonMember::Kind::kString;
      return String(&m->value);
    }
    if (c == '{' || c == '[') {
      return Status::Invalid("JSON value of '" + m->key + "' is " + (c == '{' ? "an object" : "an array") +
                             "; only strings, numbers, booleans and null are allowed" +
                             (show_text_ ? ", in " + Shorten(s_) : std::string()));
    }
    if (Literal("true") || Literal("false")) {
      m->kind = JsonMember::Kind::kBool;
      m->value = c == 't' ? "true" : "false";
      return Status::Ok();
    }
    if (Literal("null")) {
      m->kind = JsonMember::Kind::kNull;
      m->value.clear();
      return Status::Ok();
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
      m->kind = JsonMember::Kind::kNumber;
      return Number(&m->value);
    }
    return Fail("expected a value");
  }

  // Skips one object or array, however deep (no recursion): strings are
  // read as strings, brackets must balance.
  Status SkipNested() {
    std::string open;  // the brackets still open, innermost last
    std::string scratch;
    do {
      if (AtEnd()) return Fail("unterminated object or array");
      char c = Peek();
      if (c == '"') {
        PSINK_RETURN_IF_ERROR(String(&scratch));
        continue;
      }
      if (c == '{' || c == '[') {
        open.push_back(c == '{' ? '}' : ']');
      } else if (c == '}' || c == ']') {
        if (open.back() != c) return Fail("mismatched bracket");
        open.pop_back();
      }
      ++pos_;
    } while (!open.empty());
    return Status::Ok();
  }

  bool Literal(std::string_view word) {
    if (s_.substr(pos_, word.size()) == word) {
      pos_ += word.size();
      return true;
    }
    return false;
  }

  bool Digits() {
    size_t start = pos_;
    while (!AtEnd() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
    return pos_ > start;
  }

  Status Number(std::string* out) {
    size_t start = pos_;
    Eat('-');
    if (Eat('0')) {
      // no leading zeros
    } else if (!Digits()) {
      return Fail("expected a digit");
    }
    if (Eat('.') && !Digits()) return Fail("expected a digit after '.'");
    if (Peek() == 'e' || Peek() == 'E') {
      ++pos_;
      if (!Eat('+')) Eat('-');
      if (!Digits()) return Fail("expected a digit in the exponent");
    }
    out->assign(s_.substr(start, pos_ - start));
    return Status::Ok();
  }

  static void AppendUtf8(uint32_t cp, std::string* out) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  bool Hex4(uint32_t* v) {
    if (pos_ + 4 > s_.size()) return false;
    uint32_t r = 0;
    for (int i = 0; i < 4; ++i) {
      char c = s_[pos_ + i];
      r <<= 4;
      if (c >= '0' && c <= '9') r |= static_cast<uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f') r |= static_cast<uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') r |= static_cast<uint32_t>(c - 'A' + 10);
      else return false;
    }
    pos_ += 4;
    *v = r;
    return true;
  }

  Status String(std::string* out) {
    out->clear();
    ++pos_;  // opening quote
    size_t run = pos_;
    for (;;) {
      if (AtEnd()) return Fail("unterminated string");
      char c = s_[pos_];
      if (c == '"') {
        out->append(s_.substr(run, pos_ - run));
        ++pos_;
        break;
      }
      if (static_cast<unsigned char>(c) < 0x20) return Fail("control character in a string (escape it)");
      if (c != '\\') {
        ++pos_;
        continue;
      }
      out->append(s_.substr(run, pos_ - run));
      ++pos_;
      char e = Peek();
      ++pos_;
      switch (e) {
        case '"': out->push_back('"'); break;
        case '\\': out->push_back('\\'); break;
        case '/': out->push_back('/'); break;
        case 'b': out->push_back('\b'); break;
        case 'f': out->push_back('\f'); break;
        case 'n': out->push_back('\n'); break;
        case 'r': out->push_back('\r'); break;
        case 't': out->push_back('\t'); break;
        case 'u': {
          uint32_t cp;
          if (!Hex4(&cp)) return Fail("expected 4 hex digits after \\u");
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t lo;
            if (!(Eat('\\') && Eat('u') && Hex4(&lo) && lo >= 0xDC00 && lo <= 0xDFFF)) {
              return Fail("unpaired UTF-16 surrogate in \\u escape");
            }
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return Fail("unpaired UTF-16 surrogate in \\u escape");
          }
          AppendUtf8(cp, out);
          break;
        }
        default:
          --pos_;
          return Fail("invalid escape");
      }
      run = pos_;
    }
    if (!IsValidUtf8(*out)) {
      std::string msg = "invalid UTF-8 in a JSON string";
      if (show_text_) {
        msg += ' ';
        msg += Shorten(*out);
      }
      return Status::Invalid(std::move(msg));
    }
    return Status::Ok();
  }

  std::string_view s_;
  bool show_text_;
  bool skip_nested_;
  bool nested_;
  size_t pos_ = 0;
};

}  // namespace

Status ParseFlatObject(std::string_view json, std::vector<JsonMember>* out, bool show_text) {
  return Parser(json, show_text, /*skip_nested=*/false).Parse(out);
}

Status ParseObjectScalars(std::string_view json, std::vector<JsonMember>* out, bool show_text) {
  return Parser(json, show_text, /*skip_nested=*/true).Parse(out);
}

Status ParseObject(std::string_view json, std::vector<JsonMember>* out) {
  return Parser(json, true, /*skip_nested=*/false, /*nested=*/true).Parse(out);
}

void AppendJsonString(std::string_view s, std::string* out) {
  static const char kHex[] = "0123456789abcdef";
  out->push_back('"');
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default:
        if (c < 0x20) {
          out->append("\\u00");
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 15]);
        } else {
          out->push_back(ch);
        }
    }
  }
  out->push_back('"');
}

}  // namespace psink

// Unit tests for json.{h,cc}: the strict flat-object parser and the JSON
// string writer.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "json.h"

using psink::AppendJsonString;
using psink::JsonMember;
using psink::ParseFlatObject;
using psink::Status;
using Kind = psink::JsonMember::Kind;

namespace {

std::vector<JsonMember> ParseOk(std::string_view json) {
  std::vector<JsonMember> out;
  Status st = ParseFlatObject(json, &out);
  INFO("json: ", std::string(json), " message: ", st.message());
  REQUIRE(st.ok());
  return out;
}

std::string ParseError(std::string_view json, bool show_text = true) {
  std::vector<JsonMember> out;
  Status st = ParseFlatObject(json, &out, show_text);
  INFO("json: ", std::string(json));
  REQUIRE_FALSE(st.ok());
  CHECK(st.code() == Status::Code::kInvalid);
  return st.message();
}

std::string Json(std::string_view s) {
  std::string out;
  AppendJsonString(s, &out);
  return out;
}

}  // namespace

TEST_CASE("ParseFlatObject reads every scalar kind, in document order") {
  auto m = ParseOk(R"({"s":"x","n":1.50,"t":true,"f":false,"z":null,"e":-0.5e+3})");
  REQUIRE(m.size() == 6);
  CHECK(m[0].key == "s");
  CHECK(m[0].kind == Kind::kString);
  CHECK(m[0].value == "x");
  CHECK(m[1].key == "n");
  CHECK(m[1].kind == Kind::kNumber);
  CHECK(m[1].value == "1.50");  // as written
  CHECK(m[2].kind == Kind::kBool);
  CHECK(m[2].value == "true");
  CHECK(m[3].kind == Kind::kBool);
  CHECK(m[3].value == "false");
  CHECK(m[4].kind == Kind::kNull);
  CHECK(m[4].value == "");
  CHECK(m[5].kind == Kind::kNumber);
  CHECK(m[5].value == "-0.5e+3");
}

TEST_CASE("ParseFlatObject keeps numbers exactly as written") {
  for (const char* n : {"0", "-0", "1.50", "1E5", "12e-2", "123456789012345678901234567890", "0.000"}) {
    auto m = ParseOk(std::string(R"({"n":)") + n + "}");
    REQUIRE(m.size() == 1);
    CHECK(m[0].value == n);
  }
}

TEST_CASE("ParseFlatObject accepts the empty object and JSON white space") {
  CHECK(ParseOk("{}").empty());
  CHECK(ParseOk(" \t\r\n{ \n}\n ").empty());
  auto m = ParseOk(" \t\n{ \"a\" : \"b\" ,\r\n \"c\":null }\r\n ");
  REQUIRE(m.size() == 2);
  CHECK(m[0].key == "a");
  CHECK(m[0].value == "b");
  CHECK(m[1].key == "c");
}

TEST_CASE("ParseFlatObject clears its output and keeps duplicate keys") {
  std::vector<JsonMember> out(3);
  REQUIRE(ParseFlatObject(R"({"a":"1","a":"2"})", &out).ok());
  REQUIRE(out.size() == 2);
  CHECK(out[0].value == "1");
  CHECK(out[1].value == "2");
}

TEST_CASE("ParseFlatObject unescapes strings") {
  auto m = ParseOk(R"({"k\"ey":"a\"b\\c\/d\be\ff\ng\rh\ti"})");
  REQUIRE(m.size() == 1);
  CHECK(m[0].key == "k\"ey");
  CHECK(m[0].value == "a\"b\\c/d\be\ff\ng\rh\ti");
}

TEST_CASE("ParseFlatObject decodes \\u escapes, surrogate pairs included") {
  auto m = ParseOk(R"({"a":"caf\u00e9","b":"\u20AC","c":"\ud83d\ude00","d":"\u0041\u0000z","e":"\uFFFF"})");
  REQUIRE(m.size() == 5);
  CHECK(m[0].value == "caf\xC3\xA9");
  CHECK(m[1].value == "\xE2\x82\xAC");
  CHECK(m[2].value == "\xF0\x9F\x98\x80");
  CHECK(m[3].value == std::string("A\0z", 3));
  CHECK(m[4].value == "\xEF\xBF\xBF");
  // Raw UTF-8 passes through.
  auto r = ParseOk("{\"\xC3\xA9t\xC3\xA9\":\"\xF0\x9F\x98\x80\"}");
  CHECK(r[0].key == "\xC3\xA9t\xC3\xA9");
  CHECK(r[0].value == "\xF0\x9F\x98\x80");
}

TEST_CASE("ParseFlatObject refuses broken structure with offset and text") {
  CHECK(ParseError("") == "invalid JSON at offset 0: expected a JSON object '{', found the end in ''");
  CHECK(ParseError("[]") == "invalid JSON at offset 0: expected a JSON object '{', found '[]' in '[]'");
  CHECK(ParseError("\"a\"") ==
        "invalid JSON at offset 0: expected a JSON object '{', found '\"a\"' in '\"a\"'");
  CHECK(ParseError("{1:2}") == "invalid JSON at offset 1: expected a string key, found '1:2}' in '{1:2}'");
  CHECK(ParseError(R"({"a":1,})") ==
        R"(invalid JSON at offset 7: expected a string key, found '}' in '{"a":1,}')");
  CHECK(ParseError(R"({"a" 1})") == R"(invalid JSON at offset 5: expected ':', found '1}' in '{"a" 1}')");
  CHECK(ParseError(R"({"a":1)") == R"(invalid JSON at offset 6: expected ',' or '}', found the end in '{"a":1')");
  CHECK(ParseError(R"({"a":1}x)") ==
        R"(invalid JSON at offset 7: expected the end of the object, found 'x' in '{"a":1}x')");
  CHECK(ParseError(R"({"a":1}{})") ==
        R"(invalid JSON at offset 7: expected the end of the object, found '{}' in '{"a":1}{}')");
  CHECK(ParseError(R"({"a":1 "b":2})") ==
        R"(invalid JSON at offset 7: expected ',' or '}', found '"b":2}' in '{"a":1 "b":2}')");
}

TEST_CASE("ParseFlatObject refuses malformed numbers and literals") {
  CHECK(ParseError(R"({"a":01})") == R"(invalid JSON at offset 6: expected ',' or '}', found '1}' in '{"a":01}')");
  CHECK(ParseError(R"({"a":-})") == R"(invalid JSON at offset 6: expected a digit, found '}' in '{"a":-}')");
  CHECK(ParseError(R"({"a":1.})") ==
        R"(invalid JSON at offset 7: expected a digit after '.', found '}' in '{"a":1.}')");
  CHECK(ParseError(R"({"a":1e})") ==
        R"(invalid JSON at offset 7: expected a digit in the exponent, found '}' in '{"a":1e}')");
  CHECK(ParseError(R"({"a":.5})") == R"(invalid JSON at offset 5: expected a value, found '.5}' in '{"a":.5}')");
  CHECK(ParseError(R"({"a":+1})") == R"(invalid JSON at offset 5: expected a value, found '+1}' in '{"a":+1}')");
  CHECK(ParseError(R"({"a":tru})") == R"(invalid JSON at offset 5: expected a value, found 'tru}' in '{"a":tru}')");
  CHECK(ParseError(R"({"a":NaN})") == R"(invalid JSON at offset 5: expected a value, found 'NaN}' in '{"a":NaN}')");
  CHECK(ParseError(R"({"a":'x'})") == R"(invalid JSON at offset 5: expected a value, found ''x'}' in '{"a":'x'}')");
  CHECK(ParseError(R"({"a":truex})") ==
        R"(invalid JSON at offset 9: expected ',' or '}', found 'x}' in '{"a":truex}')");
}

TEST_CASE("ParseFlatObject refuses nested values") {
  CHECK(ParseError(R"({"a":{}})") ==
        R"(JSON value of 'a' is an object; only strings, numbers, booleans and null are allowed, in '{"a":{}}')");
  CHECK(ParseError(R"({"a":"x","b":[1]})") ==
        R"(JSON value of 'b' is an array; only strings, numbers, booleans and null are allowed, in '{"a":"x","b":[1]}')");
}

TEST_CASE("ParseObjectScalars leaves nested values out and keeps the scalars around them") {
  std::vector<JsonMember> out;
  REQUIRE(psink::ParseObjectScalars(
              R"({"access_token":"t","ext":{"a":[1,{"b":"}]"}],"c":{}},"expires_in":60,"list":[],"s":"x"})", &out)
              .ok());
  REQUIRE(out.size() == 3);
  CHECK(out[0].key == "access_token");
  CHECK(out[0].value == "t");
  CHECK(out[1].key == "expires_in");
  CHECK(out[1].kind == Kind::kNumber);
  CHECK(out[1].value == "60");
  CHECK(out[2].key == "s");
  // Deep nesting is skipped without recursion.
  std::string deep = "{\"a\":" + std::string(100000, '[') + std::string(100000, ']') + ",\"b\":1}";
  REQUIRE(psink::ParseObjectScalars(deep, &out).ok());
  REQUIRE(out.size() == 1);
  CHECK(out[0].key == "b");
  // Broken nesting is still an error.
  CHECK_FALSE(psink::ParseObjectScalars(R"({"a":[1,2})", &out).ok());
  CHECK_FALSE(psink::ParseObjectScalars(R"({"a":[1,2)", &out).ok());
  CHECK_FALSE(psink::ParseObjectScalars(R"({"a":["x]})", &out).ok());
  // The strict parser still refuses them.
  CHECK_FALSE(ParseFlatObject(R"({"a":{}})", &out).ok());
}

TEST_CASE("ParseFlatObject refuses broken strings") {
  CHECK(ParseError(R"({"a":"x)") == R"(invalid JSON at offset 7: unterminated string, found the end in '{"a":"x')");
  CHECK(ParseError("{\"a\":\"x\ny\"}") ==
        "invalid JSON at offset 7: control character in a string (escape it), found '\\x0Ay\"}' in "
        "'{\"a\":\"x\\x0Ay\"}'");
  CHECK(ParseError(R"({"a":"\q"})") == R"(invalid JSON at offset 7: invalid escape, found 'q"}' in '{"a":"\q"}')");
  CHECK(ParseError(R"({"a":"\)") == R"(invalid JSON at offset 7: invalid escape, found the end in '{"a":"\')");
  CHECK(ParseError(R"({"a":"\u12"})") ==
        R"(invalid JSON at offset 8: expected 4 hex digits after \u, found '12"}' in '{"a":"\u12"}')");
  CHECK(ParseError(R"({"a":"\u12G4"})") ==
        R"(invalid JSON at offset 8: expected 4 hex digits after \u, found '12G4"}' in '{"a":"\u12G4"}')");
}

TEST_CASE("ParseFlatObject refuses unpaired surrogates and invalid UTF-8") {
  CHECK(ParseError(R"({"a":"\ud83d"})") ==
        R"(invalid JSON at offset 12: unpaired UTF-16 surrogate in \u escape, found '"}' in '{"a":"\ud83d"}')");
  CHECK(ParseError(R"({"a":"\ude00"})") ==
        R"(invalid JSON at offset 12: unpaired UTF-16 surrogate in \u escape, found '"}' in '{"a":"\ude00"}')");
  CHECK(ParseError(R"({"a":"\ud83d\u0041"})") ==
        R"(invalid JSON at offset 18: unpaired UTF-16 surrogate in \u escape, found '"}' in '{"a":"\ud83d\u0041"}')");
  CHECK(ParseError("{\"a\":\"x\xFF\"}") == "invalid UTF-8 in a JSON string 'x\\xFF'");
  CHECK(ParseError("{\"\xC0\x80\":\"x\"}") == "invalid UTF-8 in a JSON string '\\xC0\\x80'");
  CHECK(ParseError("{\"a\":\"\xED\xA0\x80\"}") == "invalid UTF-8 in a JSON string '\\xED\\xA0\\x80'");
}

TEST_CASE("ParseFlatObject shortens long input in messages") {
  std::string json = R"({"k":")" + std::string(100, 'x') + "\"";
  CHECK(ParseError(json) == "invalid JSON at offset 107: expected ',' or '}', found the end in '{\"k\":\"" +
                                std::string(54, 'x') + "...'");
}

TEST_CASE("ParseFlatObject with show_text=false never echoes the input") {
  CHECK(ParseError(R"({"Authorization":"Bearer s3cret")", false) ==
        "invalid JSON at offset 32: expected ',' or '}'");
  CHECK(ParseError(R"({"a":"s3cret\q"})", false) == "invalid JSON at offset 13: invalid escape");
  CHECK(ParseError(R"({"a":["s3cret"]})", false) ==
        "JSON value of 'a' is an array; only strings, numbers, booleans and null are allowed");
  CHECK(ParseError("{\"a\":\"s3cret\xFF\"}", false) == "invalid UTF-8 in a JSON string");
}

TEST_CASE("AppendJsonString escapes what JSON requires") {
  CHECK(Json("") == R"("")");
  CHECK(Json("plain") == R"("plain")");
  CHECK(Json("a\"b\\c") == R"("a\"b\\c")");
  CHECK(Json("\n\r\t") == R"("\n\r\t")");
  CHECK(Json(std::string("\x01\x1f\0", 3)) == R"("\u0001\u001f\u0000")");
  CHECK(Json("\b\f") == R"("\u0008\u000c")");
  CHECK(Json("caf\xC3\xA9 /") == "\"caf\xC3\xA9 /\"");
  std::string appended = "x";
  AppendJsonString("y", &appended);
  CHECK(appended == "x\"y\"");
}

TEST_CASE("AppendJsonString output parses back to the same text") {
  std::string original = std::string("q\"\\\x01\n\xF0\x9F\x98\x80\0end", 13);
  std::string obj = "{";
  AppendJsonString("k", &obj);
  obj += ":";
  AppendJsonString(original, &obj);
  obj += "}";
  auto m = ParseOk(obj);
  REQUIRE(m.size() == 1);
  CHECK(m[0].value == original);
}

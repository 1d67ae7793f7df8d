// Unit tests for text.{h,cc}: Shorten, IsValidUtf8, EditDistance,
// EqualsIgnoreCase, Trim, QuoteIdentifier.
#include <doctest/doctest.h>

#include <string>

#include "text.h"

using psink::EditDistance;
using psink::EqualsIgnoreCase;
using psink::IsValidUtf8;
using psink::QuoteIdentifier;
using psink::Shorten;
using psink::Trim;

TEST_CASE("Shorten quotes short text as it is") {
  CHECK(Shorten("") == "''");
  CHECK(Shorten("abc") == "'abc'");
  CHECK(Shorten("caf\xC3\xA9 \xE2\x82\xAC") == "'caf\xC3\xA9 \xE2\x82\xAC'");
  CHECK(Shorten("it's") == "'it's'");
}

TEST_CASE("Shorten escapes control characters and invalid UTF-8") {
  CHECK(Shorten("a\nb\tc") == "'a\\x0Ab\\x09c'");
  CHECK(Shorten(std::string("a\0b", 3)) == "'a\\x00b'");
  CHECK(Shorten("\x7F") == "'\\x7F'");
  CHECK(Shorten("x\xFFy") == "'x\\xFFy'");
  CHECK(Shorten("\xC3") == "'\\xC3'");                  // truncated sequence
  CHECK(Shorten("\xED\xA0\x80") == "'\\xED\\xA0\\x80'");  // UTF-16 surrogate
}

TEST_CASE("Shorten cuts at max_bytes on a character boundary") {
  CHECK(Shorten("abcdef", 3) == "'abc...'");
  CHECK(Shorten("abc", 3) == "'abc'");
  CHECK(Shorten("abcd", 3) == "'abc...'");
  // The euro sign is 3 bytes: it is shown whole or not at all.
  CHECK(Shorten("ab\xE2\x82\xAC", 5) == "'ab\xE2\x82\xAC'");
  CHECK(Shorten("ab\xE2\x82\xAC", 4) == "'ab...'");
  CHECK(Shorten("ab\xE2\x82\xAC" "c", 5) == "'ab\xE2\x82\xAC...'");
  // Default limit: 60 bytes of the text.
  std::string long_text(100, 'x');
  CHECK(Shorten(long_text) == "'" + std::string(60, 'x') + "...'");
  CHECK(Shorten(std::string(60, 'x')) == "'" + std::string(60, 'x') + "'");
  CHECK(Shorten(std::string(59, 'x') + "\xE2\x82\xAC") == "'" + std::string(59, 'x') + "...'");
}

TEST_CASE("IsValidUtf8 accepts well-formed text") {
  CHECK(IsValidUtf8(""));
  CHECK(IsValidUtf8("plain ascii"));
  CHECK(IsValidUtf8(std::string("nul\0inside", 10)));
  CHECK(IsValidUtf8("\xC3\xA9"));          // U+00E9
  CHECK(IsValidUtf8("\xE2\x82\xAC"));      // U+20AC
  CHECK(IsValidUtf8("\xEF\xBF\xBF"));      // U+FFFF
  CHECK(IsValidUtf8("\xF0\x9F\x98\x80"));  // U+1F600
  CHECK(IsValidUtf8("\xF4\x8F\xBF\xBF"));  // U+10FFFF
  CHECK(IsValidUtf8("\xED\x9F\xBF"));      // U+D7FF, just below the surrogates
}

TEST_CASE("IsValidUtf8 refuses malformed text") {
  CHECK_FALSE(IsValidUtf8("\x80"));              // lone continuation byte
  CHECK_FALSE(IsValidUtf8("\xC0\x80"));          // overlong NUL
  CHECK_FALSE(IsValidUtf8("\xC1\xBF"));          // overlong
  CHECK_FALSE(IsValidUtf8("\xE0\x80\x80"));      // overlong 3-byte
  CHECK_FALSE(IsValidUtf8("\xF0\x80\x80\x80"));  // overlong 4-byte
  CHECK_FALSE(IsValidUtf8("\xED\xA0\x80"));      // U+D800
  CHECK_FALSE(IsValidUtf8("\xED\xBF\xBF"));      // U+DFFF
  CHECK_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  CHECK_FALSE(IsValidUtf8("\xF5\x80\x80\x80"));
  CHECK_FALSE(IsValidUtf8("\xFF"));
  CHECK_FALSE(IsValidUtf8("\xE2\x82"));          // truncated
  CHECK_FALSE(IsValidUtf8("ok\xE2\x82"));        // truncated at the end
  CHECK_FALSE(IsValidUtf8("\xE2\x28\xA1"));      // bad continuation
}

TEST_CASE("EditDistance is the Levenshtein distance") {
  CHECK(EditDistance("", "") == 0);
  CHECK(EditDistance("", "abc") == 3);
  CHECK(EditDistance("abc", "") == 3);
  CHECK(EditDistance("url", "url") == 0);
  CHECK(EditDistance("kitten", "sitting") == 3);
  CHECK(EditDistance("retyr", "retry") == 2);
  CHECK(EditDistance("batchsize", "batch_size") == 1);
}

TEST_CASE("EqualsIgnoreCase compares ASCII case-insensitively") {
  CHECK(EqualsIgnoreCase("Content-Type", "content-type"));
  CHECK(EqualsIgnoreCase("", ""));
  CHECK_FALSE(EqualsIgnoreCase("abc", "abd"));
  CHECK_FALSE(EqualsIgnoreCase("abc", "abcd"));
  CHECK_FALSE(EqualsIgnoreCase("\xC3\xA9", "\xC3\x89"));  // only ASCII folds
}

TEST_CASE("Trim removes ASCII white space at both ends") {
  CHECK(Trim("  a b \t\r\n") == "a b");
  CHECK(Trim("\f\vx\v") == "x");
  CHECK(Trim("") == "");
  CHECK(Trim(" \t ") == "");
  CHECK(Trim("x") == "x");
}

TEST_CASE("QuoteIdentifier puts the name in double quotes, each '\"' doubled") {
  CHECK(QuoteIdentifier("host") == "\"host\"");
  CHECK(QuoteIdentifier("") == "\"\"");
  CHECK(QuoteIdentifier("a\"b") == "\"a\"\"b\"");
  CHECK(QuoteIdentifier("\"") == "\"\"\"\"");
  CHECK(QuoteIdentifier("it's a col") == "\"it's a col\"");
  CHECK(QuoteIdentifier("x\" TEXT, y") == "\"x\"\" TEXT, y\"");
}

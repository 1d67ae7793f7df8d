// URL helpers beside the transport: the check of the http(s) URL options,
// the masking of credentials in URLs for messages, the canonical URL a
// SigV4 sink sends, and reading a URL's scheme and host — the last two
// with libcurl's URL API (curl_url), so that they read a URL exactly as the
// transport's libcurl will.
//
// CheckHttpUrl and MaskUrl stay plain text functions on purpose: messages
// show a URL as it was written, also when it cannot be parsed, and
// curl_url reads "http:///x" as the host "x", which CREATE refuses as a
// URL without a host.
#pragma once

#include <string>
#include <string_view>

#include "status.h"

namespace psink {

// `url` with any user:password@ part replaced by "***@", for messages and stats.
std::string MaskUrl(std::string_view url);

// An http:// or https:// URL with a host and no white space (the options
// url and oauth2_token_url). Messages name `option` and mask the
// user:password@ part.
Status CheckHttpUrl(std::string_view option, const std::string& url);

// The URL as a SigV4 sink sends and signs it: `url` with its query in AWS's
// canonical form (parameters sorted by name, then value; names and values
// percent-encoded with upper-case hex, all but A-Z a-z 0-9 - _ . ~; "name="
// for a bare name; '+' taken literally) and without a fragment. libcurl
// 7.88 signs the query as it stands in the URL, so only a canonical query
// gets a valid signature. Fails for what libcurl would sign differently
// from the receiver: a path with other characters than unreserved ones and
// '/', or with empty, '.' or '..' segments; a bad %-escape in the query.
Status SigV4Url(std::string_view url, std::string* out);

// The scheme (lower case) and host of `url` as libcurl reads it; false
// when libcurl cannot read it.
bool UrlSchemeAndHost(std::string_view url, std::string* scheme, std::string* host);

}  // namespace psink

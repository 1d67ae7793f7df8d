// Status: the result of an operation that can fail with a message for the
// user. Units below the SQLite glue never throw for bad input; they return a
// Status, and the glue turns it into an SQLite result code and zErrMsg.
// Messages carry no "prometheus_sink:" prefix: the glue adds it once.
#pragma once

#include <string>
#include <utility>

namespace psink {

class Status {
 public:
  enum class Code {
    kOk,
    kInvalid,   // bad input from the user: a row or an option (SQLITE_CONSTRAINT)
    kMismatch,  // a value of the wrong type (SQLITE_MISMATCH)
    kFailed,    // delivery or I/O failure (SQLITE_ERROR)
  };

  Status() = default;
  static Status Ok() { return Status(); }
  static Status Invalid(std::string msg) { return Status(Code::kInvalid, std::move(msg)); }
  static Status Mismatch(std::string msg) { return Status(Code::kMismatch, std::move(msg)); }
  static Status Failed(std::string msg) { return Status(Code::kFailed, std::move(msg)); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return msg_; }

 private:
  Status(Code code, std::string msg) : code_(code), msg_(std::move(msg)) {}
  Code code_ = Code::kOk;
  std::string msg_;
};

// Evaluates an expression returning Status and returns it from the caller
// when it is not ok.
#define PSINK_RETURN_IF_ERROR(expr)       \
  do {                                    \
    ::psink::Status _st = (expr);         \
    if (!_st.ok()) return _st;            \
  } while (0)

}  // namespace psink

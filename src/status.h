// Status: the result of an operation that can fail with a message for the
// user. Units below the SQLite glue never throw for bad input; they return a
// Status, and the glue turns it into an SQLite result code and zErrMsg.
// Messages carry no "prometheus_sink:" prefix: the glue adds it once.
#pragma once

#include <memory>
#include <string>
#include <utility>

namespace psink {

class Status {
 public:
  enum class Code {
    kOk,
    kInvalid,   // bad input from the user: a row or an option (SQLITE_CONSTRAINT)
    // A value of the wrong type (a BLOB where a number or text belongs). The
    // glue answers SQLITE_CONSTRAINT here too, not SQLITE_MISMATCH: INSERT OR
    // IGNORE skips, and OR FAIL keeps the rows before, only rows refused with
    // SQLITE_CONSTRAINT. The code lets callers and tests tell the cases apart.
    kMismatch,
    kFailed,    // delivery or I/O failure (SQLITE_ERROR)
  };

  // An ok Status is one null pointer: it is made, moved and destroyed for
  // every row several times over, so it must cost next to nothing.
  Status() = default;
  Status(const Status& o) : rep_(o.rep_ ? std::make_unique<Rep>(*o.rep_) : nullptr) {}
  Status& operator=(const Status& o) {
    if (this != &o) rep_ = o.rep_ ? std::make_unique<Rep>(*o.rep_) : nullptr;
    return *this;
  }
  Status(Status&&) noexcept = default;
  Status& operator=(Status&&) noexcept = default;

  static Status Ok() { return Status(); }
  static Status Invalid(std::string msg) { return Status(Code::kInvalid, std::move(msg)); }
  static Status Mismatch(std::string msg) { return Status(Code::kMismatch, std::move(msg)); }
  static Status Failed(std::string msg) { return Status(Code::kFailed, std::move(msg)); }

  bool ok() const { return rep_ == nullptr; }
  Code code() const { return rep_ ? rep_->code : Code::kOk; }
  const std::string& message() const { return rep_ ? rep_->msg : Empty(); }

 private:
  struct Rep {
    Code code;
    std::string msg;
  };
  Status(Code code, std::string msg) : rep_(std::make_unique<Rep>(Rep{code, std::move(msg)})) {}
  static const std::string& Empty() {
    static const std::string empty;
    return empty;
  }
  std::unique_ptr<Rep> rep_;
};

// Evaluates an expression returning Status and returns it from the caller
// when it is not ok.
#define PSINK_RETURN_IF_ERROR(expr)       \
  do {                                    \
    ::psink::Status _st = (expr);         \
    if (!_st.ok()) return _st;            \
  } while (0)

}  // namespace psink

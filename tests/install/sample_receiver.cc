// sample_receiver: the in-process test receiver (tests/receiver) as a
// program of its own, for the install suite's examples, which run in other
// processes (the sqlite3 shell, python3, a C program).
//
//   sample_receiver
//
// Prints its remote-write URL (http://127.0.0.1:PORT/api/v1/write) on the
// first line of stdout, then serves until its stdin closes, and then prints
// what it received and exits 0:
//
//   requests N
//   violation <text>        one line per broken rule (none expected)
//   sample <labels> <ts> <value as %.17g> (0x<bits>)   one line per sample, in arrival order
#include <cstdio>
#include <iostream>
#include <string>

#include "receiver.h"

int main() {
  testrx::Receiver rx;
  std::printf("%s\n", rx.url().c_str());
  std::fflush(stdout);
  std::string line;
  while (std::getline(std::cin, line)) {
  }
  std::printf("requests %zu\n", rx.RequestCount());
  for (const std::string& v : rx.Violations()) std::printf("violation %s\n", v.c_str());
  for (const testrx::Sample& s : rx.Samples()) std::printf("sample %s\n", s.ToString().c_str());
  return 0;
}

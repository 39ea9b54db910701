// The `faultline` command line: subcommands, flags and their help, output
// formatting and exit codes. main() only calls RunCli.
//
// Exit codes: 0 success; 1 an error (one line on stderr); 2 bad usage;
// 3 `ingest --strict` stored dead letters.
#pragma once

namespace faultline::tools {

int RunCli(int argc, char** argv);

}  // namespace faultline::tools

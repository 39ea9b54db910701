// faultline: log, trace and metric store with incident correlation.
// All logic lives in the faultline_pipeline library (tools/cli.cc).
#include "tools/cli.h"

int main(int argc, char** argv) { return faultline::tools::RunCli(argc, argv); }

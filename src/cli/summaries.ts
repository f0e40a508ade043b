// What each subcommand does, in one line: its `.description()` and its line in the top-level
// `--help`, which lists the commands without loading their modules (src/cli/main.ts).
export const SUMMARIES = {
  record: 'run a guest image under KVM and write every vCPU exit to a trace',
  replay: 're-execute a trace in the x86 interpreter (no KVM needed) and check every exit',
  show: 'print the machine state at a record (registers, segments, code, memory) through a snapshot index',
  inspect: 'summarize a trace: header, exit statistics; list exits, console text; export Perfetto / HTML',
  diff: 'compare two traces record by record; show the first divergence',
  verify: 'check traces end to end: checksums, fields, sequence, counts (no replay)',
  test: 'check every golden trace: record afresh and diff (KVM), replay in the interpreter; --update rewrites them',
} as const;

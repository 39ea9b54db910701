// Loads an NDJSON file into DuckDB the way an analyst would, for comparison
// with `faultline ingest` (bench/ingest.sh):
//   CREATE TABLE logs AS SELECT * FROM read_ndjson_auto('<file>')
// Each run uses a fresh DuckDB instance (a new database file under --work, or
// :memory:), times the CREATE TABLE statement plus the checkpoint that makes a
// file database durable, and checks the row count.
//
// Usage: node duckdb_load.mjs FILE [--runs 5] [--mode file|memory]
//                             [--work DIR] [--threads N]
// Prints one line per run, then a JSON line:
//   {"tool":"duckdb","mode":...,"records":...,"runs_s":[...],"median_s":...,
//    "records_per_second":...}

import { DuckDBInstance } from '@duckdb/node-api';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

function parseArgs(argv) {
  const args = { file: null, runs: 5, mode: 'file', work: null, threads: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--runs') args.runs = Number(next());
    else if (a === '--mode') args.mode = next();
    else if (a === '--work') args.work = next();
    else if (a === '--threads') args.threads = next();
    else if (a.startsWith('--')) throw new Error(`unknown option ${a}`);
    else args.file = a;
  }
  if (!args.file) throw new Error('usage: node duckdb_load.mjs FILE [--runs N] [--mode file|memory]');
  if (args.mode !== 'file' && args.mode !== 'memory') throw new Error('--mode is file or memory');
  if (!(args.runs >= 1)) throw new Error('--runs must be >= 1');
  return args;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

// SQL string literal.
function quote(s) {
  return `'${s.replaceAll("'", "''")}'`;
}

async function loadOnce(args, work, run) {
  const dbPath = args.mode === 'memory' ? ':memory:' : path.join(work, `run${run}.duckdb`);
  if (args.mode === 'file') {
    fs.rmSync(dbPath, { force: true });
    fs.rmSync(`${dbPath}.wal`, { force: true });
  }
  const options = args.threads ? { threads: String(args.threads) } : {};
  const instance = await DuckDBInstance.create(dbPath, options);
  const connection = await instance.connect();
  const start = process.hrtime.bigint();
  await connection.run(
    `CREATE TABLE logs AS SELECT * FROM read_ndjson_auto(${quote(path.resolve(args.file))})`);
  // A file database is only durable after a checkpoint; faultline's number
  // includes its own flush, so this one does too.
  if (args.mode === 'file') await connection.run('CHECKPOINT');
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const reader = await connection.runAndReadAll('SELECT count(*) FROM logs');
  const records = Number(reader.getRows()[0][0]);
  connection.closeSync();
  instance.closeSync();
  if (args.mode === 'file') {
    fs.rmSync(dbPath, { force: true });
    fs.rmSync(`${dbPath}.wal`, { force: true });
  }
  return { seconds, records };
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const work = args.work ?? fs.mkdtempSync(path.join(os.tmpdir(), 'faultline-duckdb-'));
  fs.mkdirSync(work, { recursive: true });
  const runs = [];
  let records = 0;
  for (let run = 1; run <= args.runs; run++) {
    const result = await loadOnce(args, work, run);
    records = result.records;
    runs.push(result.seconds);
    const rate = Math.round(result.records / result.seconds);
    console.log(`duckdb run ${run}: ${result.records} records in ${result.seconds.toFixed(3)} s = ${rate} records/s`);
  }
  if (!args.work) fs.rmSync(work, { recursive: true, force: true });
  const med = median(runs);
  console.log(JSON.stringify({
    tool: 'duckdb',
    mode: args.mode,
    file: args.file,
    records,
    runs_s: runs.map((s) => Number(s.toFixed(4))),
    median_s: Number(med.toFixed(4)),
    records_per_second: Math.round(records / med),
  }));
}

main().catch((err) => {
  console.error(`duckdb_load: ${err.message ?? err}`);
  process.exit(1);
});

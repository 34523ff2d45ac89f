/** Child-process entry of the benchmark: runs one case (JSON in argv[2]) and prints its record. */
import { type BenchCase, runBenchCase } from './measure.ts';

const benchCase = JSON.parse(process.argv[2]) as BenchCase;
process.stdout.write(`${JSON.stringify(runBenchCase(benchCase))}\n`);

/*
 * The real server for the tests: `beebeebrain serve` ($BEEBEEBRAIN_BIN) on a
 * fresh SQLite file in a temp dir, its nng, event and HTTP listeners on free
 * loopback ports, as tests/integration/conftest.py does for the Python tests.
 * stop() sends SIGTERM and returns the exit status; start() again runs the
 * server on the same file and ports (a restart). The fake LLM
 * (tests/fake_llm/fake_llm.py) is started the same way when a test needs a
 * slow provider.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 10_000;

/* test/ is compiled to dist/test/: the repository is three levels up. */
export const REPO = resolve(fileURLToPath(import.meta.url), "../../../../..");

export function serverBinary(): string {
  const bin = process.env.BEEBEEBRAIN_BIN;
  if (!bin) {
    throw new Error("set BEEBEEBRAIN_BIN to the beebeebrain binary (ctest does this)");
  }
  return bin;
}

/** A loopback TCP port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const addr = s.address();
      s.close(() => (typeof addr === "object" && addr ? ok(addr.port) : fail(new Error("no port"))));
    });
  });
}

/* None of the operator's BEEBEEBRAIN_* settings reach the server. */
function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith("BEEBEEBRAIN_")) {
      env[k] = v;
    }
  }
  return { ...env, BEEBEEBRAIN_LOG_LEVEL: "info", ...extra };
}

function delay(ms: number): Promise<void> {
  return new Promise((ok) => setTimeout(ok, ms));
}

export class Server {
  readonly dir: string;
  readonly dbPath: string;
  readonly workspace: string;
  httpUrl = "";
  private rpcUrl = "";
  private eventsUrl = "";
  private proc: ChildProcess | undefined;
  private exited: Promise<number | null> | undefined;
  private starts = 0;
  private logPath = "";

  constructor(private readonly env: Record<string, string> = {}) {
    this.dir = mkdtempSync(join(tmpdir(), "bbb-ts-"));
    this.dbPath = join(this.dir, "bbb.db");
    this.workspace = join(this.dir, "workspace");
    mkdirSync(this.workspace);
  }

  /** Starts (or restarts, on the same file and ports) and waits for /healthz. */
  async start(): Promise<this> {
    const bin = serverBinary();
    if (this.starts === 0) {
      this.rpcUrl = `tcp://127.0.0.1:${await freePort()}`;
      this.eventsUrl = `tcp://127.0.0.1:${await freePort()}`;
      this.httpUrl = `http://127.0.0.1:${await freePort()}`;
      const m = spawnSync(bin, ["migrate", "up", "--db", this.dbPath], { env: childEnv({}), stdio: "pipe" });
      if (m.status !== 0) {
        throw new Error(`migrate up failed: ${m.stderr}`);
      }
    }
    this.starts += 1;
    this.logPath = `${this.dbPath}.server${this.starts}.log`;
    const log = openSync(this.logPath, "w");
    const args = ["serve", "--db", this.dbPath, "--rpc", this.rpcUrl, "--events", this.eventsUrl, "--http", this.httpUrl];
    const proc = spawn(bin, args, { env: childEnv(this.env), stdio: ["ignore", log, log] });
    closeSync(log);
    this.proc = proc;
    this.exited = new Promise((ok) => proc.once("exit", (code) => ok(code)));
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (!(await this.healthy())) {
      if (proc.exitCode !== null) {
        throw new Error(`server exited with ${proc.exitCode} while starting:\n${this.log()}`);
      }
      if (Date.now() > deadline) {
        throw new Error(`server did not answer /healthz within ${START_TIMEOUT_MS} ms:\n${this.log()}`);
      }
      await delay(20);
    }
    return this;
  }

  private async healthy(): Promise<boolean> {
    try {
      const res = await fetch(`${this.httpUrl}/healthz`);
      await res.arrayBuffer();
      return res.status === 200;
    } catch {
      return false;
    }
  }

  /** SIGTERM; the exit status (the test fails if it does not come in time). */
  async stop(): Promise<number | null> {
    const proc = this.proc;
    if (proc === undefined || this.exited === undefined) {
      return null;
    }
    this.proc = undefined;
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill("SIGTERM");
    }
    const timer = setTimeout(() => proc.kill("SIGKILL"), STOP_TIMEOUT_MS);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }

  log(): string {
    try {
      return readFileSync(this.logPath, "utf8");
    } catch {
      return "";
    }
  }

  /** Stops the server (if running) and removes its directory. */
  async dispose(): Promise<number | null> {
    const code = await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
    return code;
  }
}

/** tests/fake_llm/fake_llm.py, driven through its control API. */
export class FakeLlm {
  private constructor(
    private readonly proc: ChildProcess,
    readonly url: string,
  ) {}

  static async start(): Promise<FakeLlm> {
    const script = join(REPO, "tests", "fake_llm", "fake_llm.py");
    const proc = spawn("/usr/bin/python3", [script], { stdio: ["ignore", "pipe", "ignore"] });
    const lines = createInterface({ input: proc.stdout! });
    const port = await new Promise<string>((ok, fail) => {
      lines.once("line", ok);
      proc.once("exit", () => fail(new Error("fake_llm.py exited before printing its port")));
    });
    lines.close();
    return new FakeLlm(proc, `http://127.0.0.1:${port.trim()}`);
  }

  /** POST /_mode: e.g. {delay_ms: 5000} makes every answer slow until reset. */
  async mode(rule: Record<string, unknown>): Promise<void> {
    const res = await fetch(`${this.url}/_mode`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(rule),
    });
    await res.arrayBuffer();
  }

  stop(): void {
    this.proc.kill("SIGTERM");
  }
}

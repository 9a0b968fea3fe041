// The real platform for the browser tests: the `platform` binary (every service in one
// process, with the Meta emulator) on a fresh PostgreSQL database and a fresh RabbitMQ vhost,
// on free ports. stop() ends it and drops both.
import { spawn, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

const PG = process.env.TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432";
const RABBIT_API = process.env.RABBITMQ_MANAGEMENT_URL ?? "http://127.0.0.1:15672";
const RABBIT_USER = process.env.RABBITMQ_USER ?? "guest";
const RABBIT_PASSWORD = process.env.RABBITMQ_PASSWORD ?? "guest";
const rabbitAuth = "Basic " + Buffer.from(`${RABBIT_USER}:${RABBIT_PASSWORD}`).toString("base64");

export function platformBinary() {
  const target = process.env.CARGO_TARGET_DIR ?? join(homedir(), ".cache/botplatform/target");
  const binary = process.env.PLATFORM_BIN ?? join(target, "debug/platform");
  if (!existsSync(binary)) {
    throw new Error(`${binary} is missing: build it with \`cargo build --workspace --bins\` (or set PLATFORM_BIN)`);
  }
  return binary;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function psql(sql) {
  execFileSync("psql", [`${PG}/postgres`, "-v", "ON_ERROR_STOP=1", "-qc", sql], { stdio: "pipe" });
}

async function rabbit(method, path, body) {
  const response = await fetch(`${RABBIT_API}/api${path}`, {
    method,
    headers: { Authorization: rabbitAuth, "Content-Type": "application/json" },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (!response.ok && !(method === "DELETE" && response.status === 404)) {
    throw new Error(`RabbitMQ management ${method} ${path}: ${response.status} ${await response.text()}`);
  }
}

async function waitFor(url, child, seconds) {
  const until = Date.now() + seconds * 1000;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`the platform exited (${child.exitCode}) before answering`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${url} did not answer within ${seconds} s`);
}

export async function startPlatform() {
  const name = `console_e2e_${randomBytes(6).toString("hex")}`;
  psql(`CREATE DATABASE ${name}`);
  await rabbit("PUT", `/vhosts/${name}`);
  await rabbit("PUT", `/permissions/${name}/${encodeURIComponent(RABBIT_USER)}`, { configure: ".*", write: ".*", read: ".*" });
  const [admin, gateway, ingress, executor, sender, emulator] = await Promise.all(Array.from({ length: 6 }, freePort));
  const token = `op_${randomBytes(30).toString("base64url").replace(/[-_]/g, "x").slice(0, 40)}`;
  const env = {
    ...process.env,
    DATABASE_URL: `${PG}/${name}`,
    AMQP_URL: `amqp://${RABBIT_USER}:${RABBIT_PASSWORD}@127.0.0.1:5672/${name}`,
    DEPLOYMENT_KEY: randomBytes(32).toString("base64"),
    ADMIN_BOOTSTRAP_TOKEN: token,
    ADMIN_HOST: "127.0.0.1",
    ADMIN_PORT: String(admin),
    API_GATEWAY_HOST: "127.0.0.1",
    API_GATEWAY_PORT: String(gateway),
    INGRESS_HOST: "127.0.0.1",
    INGRESS_PORT: String(ingress),
    EXECUTOR_HOST: "127.0.0.1",
    EXECUTOR_PORT: String(executor),
    SENDER_HOST: "127.0.0.1",
    SENDER_PORT: String(sender),
    META_EMULATOR_HOST: "127.0.0.1",
    META_EMULATOR_PORT: String(emulator),
    PLATFORM_META_EMULATOR: "true",
    META_EMULATOR_ACCEPT_ANY_TOKEN: "true",
    PLATFORM_DEMO: "false",
    // The ingress caches integrations for 30 s by default; the tests change a verify token and
    // check the webhook at once.
    INGRESS_INTEGRATION_CACHE_SECONDS: "0",
    PUBLIC_API_BASE_URL: `http://127.0.0.1:${gateway}`,
    PUBLIC_WEBHOOK_BASE_URL: `http://127.0.0.1:${ingress}`,
    LOG_FORMAT: "text",
    RUST_LOG: process.env.RUST_LOG ?? "warn",
  };
  const child = spawn(platformBinary(), [], { env, stdio: ["ignore", "inherit", "inherit"] });
  const adminUrl = `http://127.0.0.1:${admin}`;
  const stop = async () => {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
      await exited;
      clearTimeout(timer);
    }
    psql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await rabbit("DELETE", `/vhosts/${name}`);
  };
  try {
    await waitFor(`${adminUrl}/ready`, child, 90);
    await waitFor(`http://127.0.0.1:${gateway}/health`, child, 30);
    await waitFor(`http://127.0.0.1:${ingress}/health`, child, 30);
  } catch (error) {
    await stop();
    throw error;
  }
  return { adminUrl, gatewayUrl: `http://127.0.0.1:${gateway}`, webhookBaseUrl: `http://127.0.0.1:${ingress}`, token, stop };
}

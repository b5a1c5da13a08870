// The JavaScript client against a live `npc serve` (scripted backend) started by this test.
// Run: node --experimental-websocket --test tests/js/   (NPC_PYTHON names the Python to use)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { NpcClient, NpcError } from "../../engine/server/static/npc-client.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const KEY = "npc_sk_" + randomBytes(24).toString("base64url");
let server;
let baseUrl;
let folder;

before(async () => {
  folder = mkdtempSync(join(tmpdir(), "npc-js-"));
  const hash = "sha256:" + createHash("sha256").update(KEY).digest("hex");
  const config = join(folder, "serve.toml");
  writeFileSync(config, [
    `world = ${JSON.stringify(join(folder, "world.db"))}`,
    `characters = ${JSON.stringify(join(ROOT, "characters"))}`,
    `backend = "scripted"`,
    `port = 0`,
    `[keys]`,
    `js = "${hash}"`,
  ].join("\n"));
  const python = process.env.NPC_PYTHON || "python3";
  server = spawn(python, ["-m", "engine", "serve", "--config", config], {
    cwd: ROOT,
    env: { ...process.env, PYTHONPATH: ROOT + (process.env.PYTHONPATH ? ":" + process.env.PYTHONPATH : "") },
    stdio: ["ignore", "ignore", "pipe"],
  });
  baseUrl = await new Promise((resolveUrl, reject) => {
    let seen = "";
    const timer = setTimeout(() => reject(new Error("server did not start:\n" + seen)), 30000);
    server.stderr.on("data", (chunk) => {
      seen += chunk.toString();
      const match = seen.match(/running on (http:\/\/127\.0\.0\.1:\d+)/);
      if (match) {
        clearTimeout(timer);
        resolveUrl(match[1]);
      }
    });
    server.on("exit", (code) => reject(new Error(`server exited ${code}:\n${seen}`)));
  });
});

after(async () => {
  if (server && server.exitCode === null) {
    const exited = new Promise((done) => server.on("exit", done));
    server.kill("SIGTERM");
    await exited;
  }
  rmSync(folder, { recursive: true, force: true });
});

test("lists characters with a server key", async () => {
  const client = new NpcClient(baseUrl, { credential: KEY });
  const ids = (await client.characters()).map((c) => c.id);
  assert.ok(ids.includes("mira") && ids.includes("lin"));
});

test("a socket turn streams sentences and ends with done", async () => {
  const client = new NpcClient(baseUrl, { credential: KEY, player: "js-p1" });
  const session = await client.connect();
  assert.equal(session.hello.player, "js-p1");
  const sentences = [];
  const turn = session.say("mira", "Hello! What is this place?").on("sentence", (m) => sentences.push(m.text));
  const final = await turn.result;
  assert.equal(final.type, "done");
  assert.ok(sentences.length > 0);
  assert.equal(sentences.join(" "), final.text);
  assert.ok(final.emotion);
  assert.equal(final.relationship.player, "js-p1");
  session.close();
});

test("a turn can be iterated message by message, in Chinese", async () => {
  const client = new NpcClient(baseUrl, { credential: KEY, player: "js-zh" });
  const session = await client.connect();
  const types = [];
  for await (const message of session.say("lin", "你好！这里是哪里？")) types.push(message.type);
  assert.equal(types[0], "started");
  assert.equal(types.at(-1), "done");
  session.close();
});

test("a player token talks only as its player and reads only its own memories", async () => {
  const admin = new NpcClient(baseUrl, { credential: KEY });
  const { token } = await admin.mintToken("js-alice", { characters: ["mira"] });
  const alice = new NpcClient(baseUrl, { credential: token, player: "js-alice" });
  const final = await alice.turn({ character: "mira", text: "I keep bees on my roof." });
  assert.equal(final.done.type, "done");
  await assert.rejects(alice.memories("mira", "js-bob"), (e) => e instanceof NpcError && e.status === 403 && e.code === "wrong_player");
  await assert.rejects(alice.turn({ character: "bram", text: "hi" }), (e) => e.code === "character_not_allowed");
  const mine = await alice.memories("mira");
  assert.ok(Array.isArray(mine.memories));
});

test("server-sent events carry the same messages", async () => {
  const client = new NpcClient(baseUrl, { credential: KEY, player: "js-sse" });
  const types = [];
  for await (const message of client.streamTurn({ character: "chen", text: "Where can I find tea?" })) types.push(message.type);
  assert.equal(types[0], "started");
  assert.equal(types.at(-1), "done");
  assert.ok(types.includes("sentence"));
});

test("a refused message rejects the turn with its code and the session stays usable", async () => {
  const client = new NpcClient(baseUrl, { credential: KEY, player: "js-err" });
  const session = await client.connect();
  await assert.rejects(session.say("nobody", "hi").result, (e) => e.code === "unknown_character");
  const final = await session.greet("bram").result;
  assert.equal(final.type, "done");
  session.close();
});

test("a bad credential closes the socket with 4401", async () => {
  const client = new NpcClient(baseUrl, { credential: "npc_sk_wrong", player: "x" });
  await assert.rejects(client.connect(), (e) => e.status === 401);
});

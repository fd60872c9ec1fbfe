// An MCP client on the official TypeScript SDK that runs one session through `mcpwall run`
// against a real npm server and prints what it saw as JSON, for the Rust tests to check.
//
// Usage: node client.cjs everything|filesystem|policed|asked [ROOT] -- COMMAND [ARGS...]
//        node client.cjs everything|filesystem [ROOT] -- http://HOST:PORT/mcp/NAME
// (NODE_PATH must point at the node_modules that scripts/test installs.)

const { Client } = require("@modelcontextprotocol/sdk/client/index.js");
const { StdioClientTransport } = require("@modelcontextprotocol/sdk/client/stdio.js");
const {
  StreamableHTTPClientTransport,
} = require("@modelcontextprotocol/sdk/client/streamableHttp.js");
const { McpError, ElicitRequestSchema } = require("@modelcontextprotocol/sdk/types.js");

const argv = process.argv.slice(2);
const dash = argv.indexOf("--");
const [mode, root] = argv.slice(0, dash);
const [command, ...args] = argv.slice(dash + 1);

function textOf(result) {
  return (result.content || []).map((c) => c.text || "").join("");
}

async function call(client, name, args, options) {
  try {
    const r = await client.callTool({ name, arguments: args }, undefined, options);
    return { ok: !r.isError, text: textOf(r) };
  } catch (e) {
    if (e instanceof McpError) return { ok: false, code: e.code, error: e.message };
    throw e;
  }
}

async function everything(client, out) {
  out.instructions = client.getInstructions() !== undefined;
  out.tools = (await client.listTools()).tools.map((t) => t.name).sort();
  out.echo = await call(client, "echo", { message: "hello from the gateway test" });
  out.sum = await call(client, "get-sum", { a: 2, b: 3 });
  let progress = 0;
  out.long = await call(
    client,
    "trigger-long-running-operation",
    { duration: 1, steps: 3 },
    { onprogress: () => (progress += 1) },
  );
  out.progress = progress;
  const resources = (await client.listResources()).resources;
  out.resources = resources.length;
  const read = await client.readResource({ uri: resources[0].uri });
  out.resource_text = (read.contents[0].text || "").length;
  out.prompts = (await client.listPrompts()).prompts.map((p) => p.name).sort();
  const prompt = await client.getPrompt({ name: "simple-prompt" });
  out.prompt_messages = prompt.messages.length;
  out.ping = await client.ping().then(() => true);
}

// What an error answer says, or that there was none.
async function attempt(what) {
  try {
    await what();
    return { ok: true };
  } catch (e) {
    if (e instanceof McpError) return { ok: false, code: e.code, error: e.message };
    throw e;
  }
}

// The everything server under a policy that allows only some resources and prompts.
async function policed(client, out) {
  out.resources = (await client.listResources()).resources.map((r) => r.uri);
  const read = (uri) => attempt(() => client.readResource({ uri }));
  out.listed = await read(out.resources[0]);
  out.dynamic = await read("demo://resource/dynamic/text/1");
  out.climbing = await read("demo://resource/static/document/..%2F..%2Fdynamic%2Ftext%2F1");
  out.prompts = (await client.listPrompts()).prompts.map((p) => p.name).sort();
  out.simple = await attempt(() => client.getPrompt({ name: "simple-prompt" }));
  out.args = await attempt(() =>
    client.getPrompt({ name: "args-prompt", arguments: { city: "Paris" } }),
  );
}

// mcpwall's questions (mode `asked`): a yes to those about the static documents and the
// simple prompt, a no to the others.
const questions = [];

async function asked(client, out) {
  const listed = (await client.listResources()).resources.map((r) => r.uri);
  const doc = listed.find((u) => u.startsWith("demo://resource/static/document/"));
  const read = (uri) => attempt(() => client.readResource({ uri }));
  out.approved = await read(doc);
  out.again = await read(doc);
  out.declined = await read("demo://resource/dynamic/text/1");
  out.simple = await attempt(() => client.getPrompt({ name: "simple-prompt" }));
  out.questions = questions;
}

async function filesystem(client, out) {
  out.tools = (await client.listTools()).tools.map((t) => t.name).sort();
  out.allowed = await call(client, "list_allowed_directories", {});
  out.notes = await call(client, "read_text_file", { path: `${root}/notes.txt` });
  out.creds = await call(client, "read_text_file", { path: `${root}/deploy.env` });
  out.page = await call(client, "read_text_file", { path: `${root}/page.html` });
  out.escape = await call(client, "read_text_file", {
    path: `${root}/../../../../../../etc/passwd`,
  });
  out.listing = await call(client, "list_directory", { path: root });
}

async function main() {
  const transport = /^https?:\/\//.test(command)
    ? new StreamableHTTPClientTransport(new URL(command))
    : new StdioClientTransport({ command, args, stderr: "inherit" });
  const client =
    mode === "asked"
      ? new Client({ name: "mcpwall-test", version: "1.0.0" }, { capabilities: { elicitation: {} } })
      : new Client({ name: "mcpwall-test", version: "1.0.0" });
  if (mode === "asked") {
    client.setRequestHandler(ElicitRequestSchema, async (request) => {
      const message = request.params.message;
      questions.push(message);
      const approve = /static\/document\/|`simple-prompt`/.test(message);
      return { action: "accept", content: { approve } };
    });
  }
  await client.connect(transport);
  const out = { server: client.getServerVersion().name };
  const modes = { everything, filesystem, policed, asked };
  await modes[mode](client, out);
  await client.close();
  process.stdout.write(JSON.stringify(out) + "\n");
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

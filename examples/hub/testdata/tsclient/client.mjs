// client.mjs connects the official MCP TypeScript SDK client to an MCP URL
// with a bearer token, lists the tools, calls add {a: 2, b: 3} and prints
// one JSON line describing what it saw.
//
// Usage: MCP_TOKEN=<token> node client.mjs <url>
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const url = process.argv[2];
const token = process.env.MCP_TOKEN;
if (!url || !token) {
  console.error("usage: MCP_TOKEN=<token> node client.mjs <url>");
  process.exit(2);
}

const transport = new StreamableHTTPClientTransport(new URL(url), {
  requestInit: { headers: { Authorization: `Bearer ${token}` } },
});
const client = new Client({ name: "hub-tsclient", version: "0.0.1" });

try {
  await client.connect(transport);
  const { tools } = await client.listTools();
  const result = await client.callTool({ name: "add", arguments: { a: 2, b: 3 } });
  console.log(JSON.stringify({
    protocolVersion: transport.protocolVersion ?? null,
    sessionId: transport.sessionId ?? null,
    tools: tools.map((t) => t.name),
    isError: result.isError ?? false,
    text: result.content?.[0]?.text ?? null,
    structured: result.structuredContent ?? null,
  }));
  await transport.terminateSession();
  await client.close();
} catch (err) {
  console.error(err);
  process.exit(1);
}

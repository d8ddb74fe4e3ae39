// A runnable example: two cells in a sandboxed session, then a streamed one.
//   npm run build && CODEACT_API_KEY=s3cret node dist/examples/session.js 127.0.0.1:50054
import { CodeActClient } from "../src/index";

async function main(target: string): Promise<void> {
  const client = new CodeActClient(target); // token from $CODEACT_API_KEY
  const session = await client.createSession({ memoryBytes: 256 << 20 });
  try {
    await session.run("x = 41");
    console.log((await session.run("print(x + 1)")).stdout.trim()); // 42
    for await (const reply of session.stream("for i in range(3): print(i)")) {
      if (reply.event?.$case === "output") process.stdout.write(reply.event.value.text);
    }
  } finally {
    await session.delete();
    client.close();
  }
}

main(process.argv[2] ?? "127.0.0.1:50054").catch((err) => {
  console.error(String(err));
  process.exit(1);
});

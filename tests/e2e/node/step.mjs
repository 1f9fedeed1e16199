// What every script here shares: run the step named on the command line with the client
// `makeClient` builds from the input (JSON on stdin, so secrets stay off the command line), and
// print what it returned as one JSON document.
export async function runStep(steps, makeClient) {
  const step = steps[process.argv[2]];
  if (step === undefined) {
    throw new Error(`unknown step ${process.argv[2]}; one of ${Object.keys(steps).join(", ")}`);
  }
  const chunks = [];
  for await (const chunk of process.stdin) {
    chunks.push(chunk);
  }
  const { domain, clientId, clientSecret, args } = JSON.parse(Buffer.concat(chunks).toString());
  const client = makeClient({ domain, clientId, clientSecret });
  process.stdout.write(JSON.stringify(await step(client, args ?? {})));
}

// A serverless function: ferry's Node builder turns every file under api/
// into a function with its own route (/api/hello).
export default function handler(req, res) {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ message: `Hello from ferry at ${new Date().toISOString()}` }));
}

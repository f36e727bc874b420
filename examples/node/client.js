#!/usr/bin/env node
// Stream a WAV file or the microphone to a streamscribe gateway (native protocol, /ws/asr)
// and print each final transcript as "[start-end] text".
//
//   npm install                      # once: the pinned `ws` package
//   node client.js speech.wav --url ws://localhost:8000/ws/asr --speed 2
//   node client.js --mic             # needs `arecord` (ALSA) or `rec` (SoX) on the PATH
//
// --json prints every server message as one JSON line; --api-key KEY (or env
// STREAMSCRIBE_API_KEY) is sent as "Authorization: Bearer KEY". Exit status 0 when the
// session closed normally (1000), else 1 with a one-line message.
'use strict';

const fs = require('fs');
const { spawn } = require('child_process');
const WebSocket = require('ws');

function parseArgs(argv) {
  const args = { url: 'ws://localhost:8000/ws/asr', speed: 1, chunkMs: 100, json: false, mic: false,
                 language: null, apiKey: process.env.STREAMSCRIBE_API_KEY || null, file: null };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--url') args.url = argv[++i];
    else if (arg === '--speed') args.speed = Number(argv[++i]);
    else if (arg === '--chunk-ms') args.chunkMs = Number(argv[++i]);
    else if (arg === '--language') args.language = argv[++i];
    else if (arg === '--api-key') args.apiKey = argv[++i];
    else if (arg === '--json') args.json = true;
    else if (arg === '--mic') args.mic = true;
    else if (arg === '--help' || arg === '-h') { console.log(fs.readFileSync(__filename, 'utf8').split('\n').slice(1, 12).join('\n')); process.exit(0); }
    else if (arg.startsWith('--')) throw new Error(`unknown option ${arg}`);
    else args.file = arg;
  }
  if (!args.file && !args.mic) throw new Error('give a WAV file or --mic');
  return args;
}

// The format and PCM data of a 16-bit PCM WAV file (chunks walked, not a fixed 44-byte header).
function readWav(path) {
  const data = fs.readFileSync(path);
  if (data.toString('ascii', 0, 4) !== 'RIFF' || data.toString('ascii', 8, 12) !== 'WAVE') {
    throw new Error(`${path} is not a WAV file`);
  }
  let offset = 12, format = null;
  while (offset + 8 <= data.length) {
    const id = data.toString('ascii', offset, offset + 4);
    const size = data.readUInt32LE(offset + 4);
    const body = offset + 8;
    if (id === 'fmt ') {
      format = { tag: data.readUInt16LE(body), channels: data.readUInt16LE(body + 2),
                 rate: data.readUInt32LE(body + 4), bits: data.readUInt16LE(body + 14) };
    } else if (id === 'data') {
      if (!format || format.tag !== 1 || format.bits !== 16) throw new Error(`${path}: only 16-bit PCM WAV is supported`);
      return { ...format, pcm: data.subarray(body, Math.min(body + size, data.length)) };
    }
    offset = body + size + (size % 2);
  }
  throw new Error(`${path} has no data chunk`);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function* fileChunks(wav, chunkMs, speed) {
  const step = Math.floor(wav.rate * chunkMs / 1000) * 2 * wav.channels;
  const started = Date.now();
  for (let i = 0, start = 0; start < wav.pcm.length; i++, start += step) {
    if (speed > 0) {
      const delay = started + i * chunkMs / speed - Date.now();
      if (delay > 0) await sleep(delay); // pacing at `speed` times real time
    }
    yield wav.pcm.subarray(start, start + step);
  }
}

// Raw PCM16LE mono from `arecord` or `rec`, ended by Ctrl-C. The recorder starts before the
// connection: one that fails (no microphone) ends the client with its last words.
async function openMic(rate) {
  const tools = [['arecord', ['-q', '-f', 'S16_LE', '-c', '1', '-r', String(rate), '-t', 'raw']],
                 ['rec', ['-q', '-t', 'raw', '-b', '16', '-e', 'signed-integer', '-c', '1', '-r', String(rate), '-']]];
  for (const [tool, toolArgs] of tools) {
    const recorder = spawn(tool, toolArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
    const started = await new Promise((resolve) => { recorder.once('spawn', () => resolve(true)); recorder.once('error', () => resolve(false)); });
    if (!started) continue;
    let said = '', interrupted = false;
    recorder.stderr.on('data', (data) => { said += data; });
    const exited = new Promise((resolve) => recorder.once('close', (code, signal) => resolve({ code, signal })));
    const failed = async () => {
      const { code, signal } = await exited;
      const last = said.trim().split('\n').pop();
      return !interrupted && (code || signal) ? new Error(`${tool} failed (${code ?? signal}): ${last || 'no microphone?'}`) : null;
    };
    const chunks = recorder.stdout[Symbol.asyncIterator]();
    const first = await chunks.next();
    if (first.done) throw (await failed()) || new Error(`${tool} recorded nothing: no microphone?`);
    process.once('SIGINT', () => { interrupted = true; recorder.kill('SIGINT'); });
    console.error('listening; Ctrl-C to stop');
    return (async function* () {
      yield first.value;
      for (let next = await chunks.next(); !next.done; next = await chunks.next()) yield next.value;
      const error = await failed();
      if (error) throw error;
    })();
  }
  throw new Error('microphone input needs arecord (alsa-utils) or rec (sox)');
}

function show(message, json) {
  if (json) console.log(JSON.stringify(message));
  else if (message.type === 'final' && message.text) {
    console.log(`[${(message.start_ms / 1000).toFixed(2)}-${(message.end_ms / 1000).toFixed(2)}] ${message.text}`);
  } else if (message.type === 'error') console.error(`error ${message.code}: ${message.message}`);
}

// Send a config, the chunks and a close; resolve with the close code and every message.
function stream(url, { sampleRate, channels, chunks, language, apiKey, onMessage }) {
  return new Promise((resolve, reject) => {
    const headers = apiKey ? { Authorization: `Bearer ${apiKey}` } : {};
    const ws = new WebSocket(url, { headers });
    const messages = [];
    ws.on('error', reject);
    ws.on('message', (data) => { const message = JSON.parse(data); messages.push(message); onMessage(message); });
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString(), messages }));
    ws.on('open', async () => {
      ws.send(JSON.stringify({ type: 'config', sample_rate: sampleRate, encoding: 'pcm16', channels,
                               multichannel: false, language }));
      try {
        for await (const chunk of chunks) {
          if (ws.readyState !== WebSocket.OPEN) return;
          ws.send(chunk);
        }
        if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'close' }));
      } catch (error) { ws.terminate(); reject(error); }
    });
  });
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  let source;
  if (args.mic) source = { sampleRate: 16000, channels: 1, chunks: await openMic(16000) };
  else {
    const wav = readWav(args.file);
    source = { sampleRate: wav.rate, channels: wav.channels, chunks: fileChunks(wav, args.chunkMs, args.speed) };
  }
  const { code, reason } = await stream(args.url, { ...source, language: args.language, apiKey: args.apiKey,
                                                    onMessage: (m) => show(m, args.json) });
  if (code !== 1000) { console.error(`server closed the connection: ${code} ${reason}`); return 1; }
  return 0;
}

if (require.main === module) {
  // A reader that closed the pipe (`| head`) took what it wanted: end quietly, not with an EPIPE trace.
  process.stdout.on('error', (error) => { if (error.code === 'EPIPE') process.exit(0); throw error; });
  main().then((status) => process.exit(status), (error) => { console.error(String(error.message || error)); process.exit(1); });
}

module.exports = { readWav, stream };

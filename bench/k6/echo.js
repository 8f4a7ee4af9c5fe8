// k6 counterpart of bench/echo-loop.yaml: each VU opens one WebSocket to
// /echo and, for DURATION, sends a 64-byte text message and waits for it to
// come back, again and again. Run by bench/k6-echo.sh.
import { WebSocket } from 'k6/websockets';
import { Counter, Trend } from 'k6/metrics';

const roundTrips = new Counter('round_trips');
const rtt = new Trend('rtt', true);
const msg = 'e'.repeat(64);
const seconds = parseFloat(__ENV.SECONDS || '10');

export const options = {
  vus: parseInt(__ENV.VUS || '50', 10),
  duration: `${seconds}s`,
  gracefulStop: '3s',
};

export default function () {
  const ws = new WebSocket(__ENV.URL);
  let sent = 0;
  ws.onopen = () => {
    sent = Date.now();
    ws.send(msg);
    // Close before the test's end so the iteration finishes inside it.
    setTimeout(() => ws.close(), (seconds - 0.5) * 1000);
  };
  ws.onmessage = () => {
    roundTrips.add(1);
    rtt.add(Date.now() - sent);
    sent = Date.now();
    ws.send(msg);
  };
}

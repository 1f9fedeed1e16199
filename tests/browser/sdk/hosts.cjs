// Preloaded (node --require) by the hosted-login tests: the `.test` host names in
// TWOFOLD_TEST_HOSTS resolve to 127.0.0.1, as Chromium's --host-resolver-rules make them do in
// the browser. Every other name goes to the real resolver. fetch (undici), https and the SDKs
// all reach dns.lookup through net.connect, which reads it at call time.
'use strict';
const dns = require('node:dns');

const names = new Set((process.env.TWOFOLD_TEST_HOSTS || '').split(',').filter(Boolean));
const realLookup = dns.lookup;

dns.lookup = function lookup(hostname, options, callback) {
  if (!names.has(hostname)) {
    return realLookup.call(dns, hostname, options, callback);
  }
  const done = typeof options === 'function' ? options : callback;
  const opts = typeof options === 'object' && options !== null ? options : {};
  const address = { address: '127.0.0.1', family: 4 };
  process.nextTick(() => (opts.all ? done(null, [address]) : done(null, address.address, 4)));
  return {};
};

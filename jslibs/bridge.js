// The JavaScript half of runtime/bridge.py, and the resident loop of one isolate.
//
// Evaluated once per isolate by runtime/sandbox/miniracer.py, as the one long-lived
// evaluation of that isolate: it takes the shared buffer and the host function from
// two globals, removes them, installs require/print/console, then pulls events from
// the host and runs the robot's main() for each until the host says stop.
// Nothing it keeps is reachable from robot code except what it installs on purpose.
(function (sab, queueSab, hostFn) {
  'use strict';
  delete globalThis.__rr_sab;
  delete globalThis.__rr_queue;
  delete globalThis.__rr_host;

  var HEADER_BYTES = 32, SLOT_STATUS = 0, SLOT_KIND = 1, SLOT_LENGTH = 2;
  var KIND_CALL = 1, KIND_PART = 2, KIND_CONT = 3;
  var STATUS_PENDING = 0, STATUS_OK = 1, STATUS_ERROR = 2, STATUS_MORE = 3, STATUS_ACK = 4;
  var header = new Int32Array(sab, 0, 8);
  var units = new Uint16Array(sab, HEADER_BYTES);
  var CAPACITY = units.length;
  var fromCharCode = String.fromCharCode;
  var stringify = JSON.stringify, parse = JSON.parse;

  // --- framing -------------------------------------------------------------------

  function sendFrame(kind, text, start, end) {
    for (var i = start, j = 0; i < end; i++, j++) units[j] = text.charCodeAt(i);
    header[SLOT_KIND] = kind;
    header[SLOT_LENGTH] = end - start;
    header[SLOT_STATUS] = STATUS_PENDING;
    hostFn();
    var status = header[SLOT_STATUS];
    if (status === STATUS_PENDING) {
      throw new Error('host call got no answer (the host failed outside the protocol)');
    }
    return status;
  }

  // Copying into a plain array first makes fromCharCode.apply about twice as fast as
  // spreading the typed array itself.
  var scratch = [];
  function readFrame() {
    var n = header[SLOT_LENGTH];
    if (n <= 8192) {
      for (var k = 0; k < n; k++) scratch[k] = units[k];
      scratch.length = n;
      return fromCharCode.apply(null, scratch);
    }
    var parts = [];
    for (var i = 0; i < n; i += 16384) {
      parts.push(fromCharCode.apply(null, units.subarray(i, Math.min(n, i + 16384))));
    }
    return parts.join('');
  }

  function rawCall(text) {
    var start = 0, n = text.length;
    while (n - start > CAPACITY) {
      var cut = start + CAPACITY;
      var last = text.charCodeAt(cut - 1);
      if (last >= 0xD800 && last <= 0xDBFF) cut -= 1;  // keep surrogate pairs whole
      sendFrame(KIND_PART, text, start, cut);
      start = cut;
    }
    var status = sendFrame(KIND_CALL, text, start, n);
    var answer = readFrame();
    if (status === STATUS_MORE) {
      var parts = [answer];
      while (status === STATUS_MORE) {
        status = sendFrame(KIND_CONT, '', 0, 0);
        parts.push(readFrame());
      }
      answer = parts.join('');
    }
    if (status === STATUS_ERROR) throw hostError(parse(answer));
    return answer;
  }

  function hostError(body) {
    var err = new Error(body.message);
    for (var key in body) {
      if (key !== 'message') err[key] = body[key];
    }
    return err;
  }

  // call(op, argsArray) -> the JSON-decoded answer; throws an Error on failure.
  function call(op, args) {
    var answer = rawCall(stringify([op].concat(args)));
    return answer === '' ? undefined : parse(answer);
  }

  // --- deferred calls ---------------------------------------------------------------
  // A deferred call (a record write) is appended to a second shared buffer instead of
  // crossing the bridge at once: "[op, ...args]" texts separated by NUL, with the units
  // used and the entry count in the header. Python performs every queued call, in
  // order, before it answers ANY bridge call, and when a run ends, however it ends.
  // Its answer is fetched only if the script looks at it ('$answer' with the call's
  // sequence number, counted alike on both sides).
  var queueHeader = new Int32Array(queueSab, 0, 8);
  var queueUnits = new Uint16Array(queueSab, HEADER_BYTES);
  var QUEUE_USED = 0, QUEUE_COUNT = 1;
  var QUEUE_CAPACITY = queueUnits.length, QUEUE_MAX_ENTRIES = 4096;
  var deferredSeq = 0;

  // defer(op, args, tail): `tail`, a JSON text, travels after a \u0001 (which JSON text
  // never holds raw), so Python can keep it as it is instead of encoding it again.
  function defer(op, args, tail) {
    var text = stringify([op].concat(args));
    if (tail !== undefined) text += '\u0001' + tail;
    if (text.length + 1 > QUEUE_CAPACITY) {
      // too big to queue: an ordinary call, the tail as the last argument
      var answer = call(op, tail === undefined ? args : args.concat([parse(tail)]));
      return function () { return answer; };
    }
    var used = queueHeader[QUEUE_USED];
    if (used + text.length + 1 > QUEUE_CAPACITY || queueHeader[QUEUE_COUNT] >= QUEUE_MAX_ENTRIES) {
      call('$flush', []);
      used = queueHeader[QUEUE_USED];
    }
    for (var i = 0, n = text.length; i < n; i++) queueUnits[used + i] = text.charCodeAt(i);
    queueUnits[used + text.length] = 0;
    queueHeader[QUEUE_USED] = used + text.length + 1;
    queueHeader[QUEUE_COUNT] = queueHeader[QUEUE_COUNT] + 1;
    var seq = deferredSeq++;
    return function () { return call('$answer', [seq]); };
  }

  var host = Object.freeze({ call: call, defer: defer });

  // --- logging --------------------------------------------------------------------

  function show(value) {
    if (typeof value === 'string') return value;
    if (value instanceof Error) return value.stack || String(value);
    if (value === undefined || typeof value === 'function' || typeof value === 'symbol') {
      return String(value);
    }
    try { return stringify(value); } catch (e) { return String(value); }
  }

  function logger(level) {
    return function () {
      var parts = [];
      for (var i = 0; i < arguments.length; i++) parts.push(show(arguments[i]));
      call('log', [level, parts.join(' ')]);
    };
  }

  // --- modules --------------------------------------------------------------------

  var modules = {};      // module id -> module object
  var resolved = {};     // from id + '\0' + name -> module id

  function compile(id, source, wrap) {
    var code = wrap
      ? '(function (exports, require, module, __filename, __dirname, __host) {' + source + '\n})'
      : source;
    try {
      return (0, eval)(code + '\n//# sourceURL=' + id);
    } catch (e) {
      if (e instanceof SyntaxError) throw located(e, call('$syntax', [id, source, wrap]));
      throw e;
    }
  }

  // The engine puts no location on a SyntaxError caught in script; the host
  // finds it (line, column, source line) and the error is rethrown with it.
  function located(e, where) {
    var err = new SyntaxError(where.file + ':' + where.line + ':' + where.column + ': ' + e.message);
    err.stack = 'SyntaxError: ' + e.message + '\n    at ' + where.file + ':' + where.line + ':' +
      where.column + '\n' + where.sourceLine + '\n' + where.caret;
    return err;
  }

  function load(fromId, name) {
    var key = fromId + '\u0000' + name;
    var id = resolved[key];
    if (id !== undefined) return modules[id].exports;
    var found = call('$require', [fromId, name]);
    id = found.id;
    resolved[key] = id;
    var mod = modules[id];
    if (mod) return mod.exports;
    mod = { id: id, exports: {}, loaded: false };
    modules[id] = mod;
    try {
      var fn = compile(found.file, found.source, true);
      fn.call(mod.exports, mod.exports, makeRequire(id), mod, found.file, found.dir,
              found.privileged ? host : undefined);
    } catch (e) {
      delete modules[id];
      delete resolved[key];
      throw e;
    }
    mod.loaded = true;
    return mod.exports;
  }

  function makeRequire(fromId) {
    return function require(name) {
      if (typeof name !== 'string') throw new TypeError('require() takes a module name string');
      return load(fromId, name);
    };
  }

  // --- the robot and the loop ----------------------------------------------------

  var g = globalThis;
  g.print = logger('info');
  g.console = Object.freeze({
    log: logger('info'), info: logger('info'), warn: logger('warn'),
    error: logger('error'), debug: logger('debug'), trace: logger('debug')
  });

  var robot = null;
  function loadRobot() {
    var entry = call('$entry', []);
    var mod = { id: entry.id, exports: {}, loaded: false };
    g.module = mod;
    g.exports = mod.exports;
    g.require = makeRequire(entry.id);
    compile(entry.file, entry.source, false);
    mod.loaded = true;
    var main = typeof g.main === 'function' ? g.main
      : (mod.exports && typeof mod.exports.main === 'function') ? mod.exports.main
      : (typeof g.exports.main === 'function' ? g.exports.main : null);
    if (main === null) {
      var err = new Error(entry.file + ' defines no main(text, auth) function');
      err.name = 'RobotError';
      throw err;
    }
    return { main: main };
  }

  function describe(e) {
    if (e instanceof Error) {
      var stack = String(e.stack || '').split('\n').filter(function (line) {
        return line.indexOf('libs/bridge.js') < 0;  // the loop's own frames say nothing
      }).join('\n');
      return { name: String(e.name), message: String(e.message), stack: stack };
    }
    return { name: 'Error', message: 'Uncaught ' + show(e), stack: '' };
  }

  function runOne(ev) {
    try {
      if (robot === null) robot = loadRobot();
      robot.main(ev.text, ev.auth);
      return { ok: true };
    } catch (e) {
      var failed = robot === null;
      return { ok: false, error: describe(e), fatal: failed };
    }
  }

  // '$next' answers "auth\u0000text" (no JSON: the text goes to main as it came),
  // or nothing when the isolate is to stop.
  // After a run that ended well, the request is NEXT_AFTER_OK alone (no JSON to build
  // or parse on the hot path); otherwise ['$next', result].
  var NEXT_AFTER_OK = '\u0001';
  var result = null;
  for (;;) {
    var ev = rawCall(result !== null && result.ok ? NEXT_AFTER_OK : stringify(['$next', result]));
    if (ev === '') return 'stopped';
    var cut = ev.indexOf('\u0000');
    result = runOne({ auth: ev.slice(0, cut), text: ev.slice(cut + 1) });
  }
})(globalThis.__rr_sab, globalThis.__rr_queue, globalThis.__rr_host);

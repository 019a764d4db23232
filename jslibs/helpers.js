// The helper library robots load with require('./libs/helpers') (ROBOT_API.md §3).
// Every call that reaches outside the isolate goes through __host.call(op, args),
// which is synchronous: it returns the answer or throws before the next statement.
'use strict';

var codecs = require('./codecs');
var lpp = require('./lpp');

function call(op, args) { return __host.call(op, args); }

// --- HTTP ---------------------------------------------------------------------------

function http(method, url, headers, body) {
  return call('http', [method, url, headers || {}, body === undefined ? null : body, {}]);
}

exports.get = function (url, headers) { return http('GET', url, headers); };
exports.post = function (url, headers, body) { return http('POST', url, headers, body); };
exports.put = function (url, headers, body) { return http('PUT', url, headers, body); };
exports.patch = function (url, headers, body) { return http('PATCH', url, headers, body); };
exports['delete'] = function (url, headers) { return http('DELETE', url, headers); };

// request({method, url, headers, body, timeout}) -> {status, headers, body, json};
// a status code never throws here, only a missing answer does.
exports.request = function (options) {
  var o = options || {};
  var body = o.body === undefined ? null : o.body;
  var timeout = typeof o.timeout === 'number' ? o.timeout : null;
  return call('http', [o.method || 'GET', o.url, o.headers || {}, body,
                       { raw: true, timeout: timeout }]);
};

// --- the data lake ------------------------------------------------------------------

// A write is queued (see bridge.js) and its envelope fetched only when the robot
// looks at it: a loop of writes whose results are ignored costs no round trip each.
// The envelope is a Proxy that loads the real one on first use, so property reads,
// `in`, Object.keys and JSON.stringify all see the real envelope.
var lazyEnvelope = {
  get: function (t, key) { return load(t)[key]; },
  set: function (t, key, value) { load(t)[key] = value; return true; },
  has: function (t, key) { return key in load(t); },
  deleteProperty: function (t, key) { return delete load(t)[key]; },
  ownKeys: function (t) { return Reflect.ownKeys(load(t)); },
  getOwnPropertyDescriptor: function (t, key) {
    var d = Reflect.getOwnPropertyDescriptor(load(t), key);
    if (d) d.configurable = true;
    return d;
  }
};

function load(t) {
  if (t.envelope === null) t.envelope = t.answer();
  return t.envelope;
}

function write(auth, recType, obj, tags, owners) {
  var data = JSON.stringify(obj === undefined ? null : obj);
  var answer = __host.defer('store.write', [auth, recType, tags || [], owners || null],
                            data === undefined ? 'null' : data);
  return new Proxy({ answer: answer, envelope: null }, lazyEnvelope);
}

exports.write = function (recType, obj, auth, tags) { return write(auth, recType, obj, tags, null); };
exports.writeShare = function (auth, recType, obj, tags) { return write(auth, recType, obj, tags, null); };
exports.writeShareWithOwners = function (auth, recType, obj, tags, owners) {
  return write(auth, recType, obj, tags, owners);
};
exports.readShareById = function (auth, recType, id, params) {
  return call('store.readById', [auth, recType, id, params || {}]);
};
exports.readShareByTags = function (auth, recType, tags, params) {
  return call('store.readByTags', [auth, recType, tags || [], params || {}]);
};
exports.readShareByView = function (auth, recType, viewId, params) {
  return call('store.readByView', [auth, recType, viewId, params || {}]);
};

// parseMsg(text): the read envelope of the record that triggered the run.
exports.parseMsg = function (text) {
  var msg;
  try {
    msg = typeof text === 'string' ? JSON.parse(text) : text;
  } catch (e) {
    return { err: 1, msg: 'parseMsg: the text is not JSON: ' + e.message };
  }
  if (!msg || typeof msg !== 'object' || !Array.isArray(msg.objs)) {
    return { err: 1, msg: 'parseMsg: the text holds no record envelope' };
  }
  var first = msg.objs[0] || {};
  return {
    err: 0, msg: 'Success', meta: msg.meta, objs: msg.objs,
    id: first.id || '', recType: first.recType || msg.recType || ''
  };
};

// --- robot state (beyond the Microshare documentation) ------------------------------

exports.state = Object.freeze({
  get: function (key) { var v = call('state.get', [String(key)]); return v === null ? undefined : v; },
  set: function (key, value) { call('state.set', [String(key), value === undefined ? null : value]); },
  'delete': function (key) { call('state.delete', [String(key)]); }
});

// --- notifications: each answers {err, msg}, never throws ---------------------------

exports.sendEmail = function (from, to, subject, body) {
  return call('notify.email', [from, to, subject, body]);
};
exports.sendMicroshareEmail = function (to, subject, body) {
  return call('notify.microshareEmail', [to, subject, body]);
};
exports.sendSMS = function (from, to, text, accountSid, authToken) {
  return call('notify.sms', [from, to, text, accountSid, authToken]);
};
exports.sendWSMessage = function (uri, message) {
  return call('notify.ws', [uri, message]);
};

// --- log, codecs ---------------------------------------------------------------------

exports.say = function (message) { call('log', ['info', String(message)]); };

for (var name in codecs) exports[name] = codecs[name];
exports.decodeCayenneLPP = lpp.decode;
exports.encodeToCayenneLPP = lpp.encode;

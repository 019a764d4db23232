// Base64 and the number conversions of the helper library. Pure JavaScript.
'use strict';

var B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

function utf8(s) {
  var out = '';
  for (var i = 0; i < s.length; i++) {
    var c = s.codePointAt(i);
    if (c > 0xFFFF) i++;
    if (c < 0x80) out += String.fromCharCode(c);
    else if (c < 0x800) out += String.fromCharCode(0xC0 | c >> 6, 0x80 | c & 63);
    else if (c < 0x10000) out += String.fromCharCode(0xE0 | c >> 12, 0x80 | c >> 6 & 63, 0x80 | c & 63);
    else out += String.fromCharCode(0xF0 | c >> 18, 0x80 | c >> 12 & 63, 0x80 | c >> 6 & 63, 0x80 | c & 63);
  }
  return out;
}

// btoa(s): Base64 of a binary string; text beyond Latin-1 is taken as UTF-8.
exports.btoa = function (input) {
  var s = String(input);
  if (/[^\u0000-\u00ff]/.test(s)) s = utf8(s);
  var out = '';
  for (var i = 0; i < s.length; i += 3) {
    var a = s.charCodeAt(i), b = s.charCodeAt(i + 1), c = s.charCodeAt(i + 2);
    var n = a << 16 | (b || 0) << 8 | (c || 0);
    out += B64[n >> 18 & 63] + B64[n >> 12 & 63] +
      (i + 1 < s.length ? B64[n >> 6 & 63] : '=') + (i + 2 < s.length ? B64[n & 63] : '=');
  }
  return out;
};

// atob(s): the binary string (one character per byte) a Base64 text stands for.
exports.atob = function (input) {
  var s = String(input).replace(/[\s=]/g, '').replace(/-/g, '+').replace(/_/g, '/');
  if (/[^A-Za-z0-9+/]/.test(s) || s.length % 4 === 1) {
    var err = new Error('atob: not Base64: ' + String(input).slice(0, 40));
    err.name = 'InvalidCharacterError';
    throw err;
  }
  var out = '';
  for (var i = 0; i < s.length; i += 4) {
    var n = B64.indexOf(s[i]) << 18 | B64.indexOf(s[i + 1]) << 12 |
      (i + 2 < s.length ? B64.indexOf(s[i + 2]) : 0) << 6 |
      (i + 3 < s.length ? B64.indexOf(s[i + 3]) : 0);
    out += String.fromCharCode(n >> 16 & 255);
    if (i + 2 < s.length) out += String.fromCharCode(n >> 8 & 255);
    if (i + 3 < s.length) out += String.fromCharCode(n & 255);
  }
  return out;
};

// --- numbers <-> strings of bits or hex digits (upper case), whole bytes wide --------

function toBigInt(value, name) {
  if (typeof value === 'bigint') return value;
  var n = Number(value);
  if (!isFinite(n) || Math.floor(n) !== n) throw new TypeError(name + ': not an integer: ' + value);
  return BigInt(n);
}

function digits(text, base, name) {
  var s = String(text).trim().replace(/^0[xb]/i, '');
  var ok = base === 2 ? /^[01]+$/ : /^[0-9a-fA-F]+$/;
  if (!ok.test(s)) throw new TypeError(name + ': not base ' + base + ': ' + text);
  return s;
}

function toNumber(big) { return Number(big); }

function padTo(s, multiple) {
  var width = Math.max(multiple, Math.ceil(s.length / multiple) * multiple);
  while (s.length < width) s = '0' + s;
  return s;
}

function unsignedBits(big, name) {
  if (big < 0n) throw new RangeError(name + ': negative; use the TwoCompl variant');
  return padTo(big.toString(2), 8);
}

// The smallest whole-byte width that holds `big` in two's complement, at least `bits`.
function twosComplementBits(big, bits) {
  var width = bits || 8;
  while (big < -(1n << BigInt(width - 1)) || big >= (1n << BigInt(width - 1))) width += 8;
  var wrapped = big < 0n ? (1n << BigInt(width)) + big : big;
  return padTo(wrapped.toString(2), width);
}

function bitsToHex(bits) {
  var s = padTo(bits, 8), out = '';
  for (var i = 0; i < s.length; i += 4) out += parseInt(s.substr(i, 4), 2).toString(16);
  return out.toUpperCase();
}

function signed(big, width) {
  return big >= (1n << BigInt(width - 1)) ? big - (1n << BigInt(width)) : big;
}

exports.Dec2Bin = function (n) { return unsignedBits(toBigInt(n, 'Dec2Bin'), 'Dec2Bin'); };
exports.Dec2Hex = function (n) { return bitsToHex(unsignedBits(toBigInt(n, 'Dec2Hex'), 'Dec2Hex')); };
exports.Bin2Dec = function (s) { return toNumber(BigInt('0b' + digits(s, 2, 'Bin2Dec'))); };
exports.Hex2Dec = function (s) { return toNumber(BigInt('0x' + digits(s, 16, 'Hex2Dec'))); };
exports.Hex2Bin = function (s) {
  var h = digits(s, 16, 'Hex2Bin'), out = '';
  for (var i = 0; i < h.length; i++) out += padTo(parseInt(h[i], 16).toString(2), 4);
  return out;
};
exports.Bin2Hex = function (s) { return bitsToHex(digits(s, 2, 'Bin2Hex')); };
exports.Dec2BinTwoCompl = function (n, bits) {
  return twosComplementBits(toBigInt(n, 'Dec2BinTwoCompl'), bits);
};
exports.Dec2HexTwoCompl = function (n, bits) {
  return bitsToHex(twosComplementBits(toBigInt(n, 'Dec2HexTwoCompl'), bits));
};
exports.Hex2SignedDec = function (s) {
  var h = digits(s, 16, 'Hex2SignedDec');
  return toNumber(signed(BigInt('0x' + h), h.length * 4));
};
exports.Bin2SignedDec = function (s) {
  var b = digits(s, 2, 'Bin2SignedDec');
  return toNumber(signed(BigInt('0b' + b), b.length));
};

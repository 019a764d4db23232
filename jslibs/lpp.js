// Cayenne Low Power Payload: decode a hex payload into the documented JSON form, and
// encode that form back. Every data type of the Cayenne LPP specification.
'use strict';

// type byte: name, bytes per field, scale, signed, unit, fields (null: one value)
var TYPES = [
  [0x00, 'Digital Input', 1, 1, false, '', null],
  [0x01, 'Digital Output', 1, 1, false, '', null],
  [0x02, 'Analog Input', 2, 0.01, true, '', null],
  [0x03, 'Analog Output', 2, 0.01, true, '', null],
  [0x65, 'Illuminance Sensor', 2, 1, false, 'Lux', null],
  [0x66, 'Presence Sensor', 1, 1, false, '', null],
  [0x67, 'Temperature Sensor', 2, 0.1, true, '°C', null],
  [0x68, 'Humidity Sensor', 1, 0.5, false, '%', null],
  [0x71, 'Accelerometer', 2, 0.001, true, 'G', ['X', 'Y', 'Z']],
  [0x73, 'Barometer', 2, 0.1, false, 'hPa', null],
  [0x86, 'Gyrometer', 2, 0.01, true, '°/s', ['X', 'Y', 'Z']],
  [0x88, 'GPS Location', 3, null, true, null, ['latitude', 'longitude', 'altitude']]
];
var GPS_SCALES = { latitude: 0.0001, longitude: 0.0001, altitude: 0.01 };
var GPS_UNITS = { latitude: '°', longitude: '°', altitude: 'm' };

var byCode = {}, byName = {};
TYPES.forEach(function (t) {
  var spec = { code: t[0], name: t[1], size: t[2], scale: t[3], signed: t[4], unit: t[5], fields: t[6] };
  byCode[spec.code] = spec;
  byName[spec.name.toLowerCase()] = spec;
});

function scaleOf(spec, field) { return spec.scale === null ? GPS_SCALES[field] : spec.scale; }
function unitOf(spec, field) { return spec.unit === null ? GPS_UNITS[field] : spec.unit; }

// How many decimals a scale shows (0.001 -> 3), so that 1234 * 0.001 prints 1.234.
function decimals(scale) { return scale >= 1 ? 0 : Math.round(-Math.log10(scale)); }
function round(value, scale) { return Number(value.toFixed(decimals(scale))); }

// Numbers shown as text keep one decimal at least, as the documented output does (0.0G).
function shown(value, unit) {
  var s = String(value);
  if (Number.isInteger(value) && unit !== '' && unit !== 'Lux') s += '.0';
  return s + unit;
}

function readInt(bytes, at, size, isSigned) {
  var v = 0;
  for (var i = 0; i < size; i++) v = v * 256 + bytes[at + i];
  if (isSigned && v >= Math.pow(2, 8 * size - 1)) v -= Math.pow(2, 8 * size);
  return v;
}

function hexBytes(hex) {
  var s = String(hex).replace(/\s+/g, '');
  if (s.length % 2 !== 0 || /[^0-9a-fA-F]/.test(s)) {
    throw new TypeError('decodeCayenneLPP: not an even number of hex digits: ' + hex);
  }
  var out = [];
  for (var i = 0; i < s.length; i += 2) out.push(parseInt(s.substr(i, 2), 16));
  return out;
}

exports.decode = function (hex) {
  var bytes = hexBytes(hex), out = [], at = 0;
  while (at < bytes.length) {
    if (at + 2 > bytes.length) throw new RangeError('decodeCayenneLPP: truncated at byte ' + at);
    var channel = bytes[at], spec = byCode[bytes[at + 1]];
    if (!spec) throw new RangeError('decodeCayenneLPP: unknown data type 0x' + bytes[at + 1].toString(16) + ' at byte ' + (at + 1));
    at += 2;
    var count = spec.fields ? spec.fields.length : 1;
    if (at + spec.size * count > bytes.length) {
      throw new RangeError('decodeCayenneLPP: ' + spec.name + ' on channel ' + channel + ' is truncated');
    }
    var entry = { channel: channel, type: spec.name };
    if (spec.fields) {
      entry.measure = {};
      entry.value = {};
      for (var f = 0; f < count; f++) {
        var field = spec.fields[f], scale = scaleOf(spec, field);
        var v = round(readInt(bytes, at, spec.size, spec.signed) * scale, scale);
        entry.measure[field] = v;
        entry.value[field] = shown(v, unitOf(spec, field));
        at += spec.size;
      }
    } else {
      var value = round(readInt(bytes, at, spec.size, spec.signed) * spec.scale, spec.scale);
      entry.measure = value;
      entry.value = shown(value, spec.unit);
      at += spec.size;
    }
    out.push(entry);
  }
  return JSON.stringify(out);
};

function writeInt(value, size, isSigned, what) {
  var limit = Math.pow(2, 8 * size);
  var lo = isSigned ? -limit / 2 : 0, hi = isSigned ? limit / 2 - 1 : limit - 1;
  if (value < lo || value > hi) throw new RangeError('encodeToCayenneLPP: ' + what + ' out of range');
  var v = value < 0 ? value + limit : value, hex = '';
  for (var i = 0; i < size; i++) {
    hex = ('0' + (v % 256).toString(16)).slice(-2) + hex;
    v = Math.floor(v / 256);
  }
  return hex;
}

function hexByte(n) { return ('0' + n.toString(16)).slice(-2); }

exports.encode = function (decoded) {
  var entries = typeof decoded === 'string' ? JSON.parse(decoded) : decoded;
  if (!Array.isArray(entries)) throw new TypeError('encodeToCayenneLPP: expected an array of entries');
  var hex = '';
  entries.forEach(function (entry, i) {
    var spec = byName[String(entry.type).toLowerCase()];
    if (!spec) throw new TypeError('encodeToCayenneLPP: entry ' + i + ' has unknown type ' + entry.type);
    hex += hexByte(Number(entry.channel) & 255) + hexByte(spec.code);
    var fields = spec.fields || [null];
    fields.forEach(function (field) {
      var m = field === null ? entry.measure : entry.measure[field];
      var raw = Math.round(Number(m) / scaleOf(spec, field));
      hex += writeInt(raw, spec.size, spec.signed, spec.name + (field ? ' ' + field : ''));
    });
  });
  return hex.toUpperCase();
};

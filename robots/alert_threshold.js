// A triggered robot: when a decoded reading is too warm, e-mail the operators and
// keep an alert record. Runs on every new io.demo.readings record.
var lib = require('./libs/helpers');
var LIMIT_C = 25;

function main(text, auth) {
    var msg = lib.parseMsg(text);
    if (msg.err != 0) return;
    var reading = msg.objs[0].data;
    var temperature = reading.readings && reading.readings.temperature_1;
    if (typeof temperature !== 'number' || temperature <= LIMIT_C) return;
    var sent = lib.sendEmail('robots@example.com', 'ops@example.com, oncall@example.com',
                             'Too warm: ' + reading.device + ' at ' + temperature + ' °C',
                             'Reading ' + msg.objs[0].id + ' of ' + reading.device +
                             ' is above ' + LIMIT_C + ' °C.');
    lib.writeShare(auth, 'io.demo.alerts', {device: reading.device, temperature: temperature,
                                            mailed: sent.err == 0, reason: sent.msg},
                   [String(reading.device)]);
}

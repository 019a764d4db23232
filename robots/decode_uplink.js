// A triggered robot for the demo: decodes the Cayenne LPP payload of a LoRaWAN
// uplink (The Things Stack shape, or a LiveObjects packet) into readings.
var lib = require('./libs/helpers');

function hexOf(binary) {
    var hex = '';
    for (var i = 0; i < binary.length; i++) {
        hex += ('0' + binary.charCodeAt(i).toString(16)).slice(-2);
    }
    return hex.toUpperCase();
}

function main(text, auth) {
    var msg = lib.parseMsg(text);
    if (msg.err != 0) return;
    var record = msg.objs[0], data = record.data;
    var hex = data.uplink_message ? hexOf(lib.atob(data.uplink_message.frm_payload))
        : (data.value && data.value.payload) || data.payload;
    var device = data.end_device_ids ? data.end_device_ids.device_id : data.streamId;
    var readings = {};
    JSON.parse(lib.decodeCayenneLPP(hex)).forEach(function (r) {
        readings[r.type.replace(/ Sensor$/, '').toLowerCase() + '_' + r.channel] = r.measure;
    });
    lib.writeShare(auth, 'io.demo.readings', {device: device, source: record.id,
                                              recType: record.recType, readings: readings},
                   [String(device)]);
}

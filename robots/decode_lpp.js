// A triggered robot: reads the record that started it with lib.parseMsg, decodes
// its Cayenne LPP payload and writes the readings as a new record.
var lib = require('./libs/helpers');

function main(text, auth) {
    var msg = lib.parseMsg(text);
    if (msg.err != 0) {
        print('not a record envelope: ' + msg.msg);
        return;
    }
    var packet = msg.objs[0].data;
    var payload = packet.value ? packet.value.payload : packet.payload;
    var readings = JSON.parse(lib.decodeCayenneLPP(payload));
    var decoded = {source: msg.objs[0].id, readings: {}};
    readings.forEach(function (r) {
        decoded.readings[r.type + ' ' + r.channel] = r.measure;
    });
    var written = lib.writeShare(auth, 'io.demo.decoded', decoded, msg.objs[0].tags);
    lib.say('decoded ' + readings.length + ' reading(s) into ' + written.id);
}

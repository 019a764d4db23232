// A scheduled pull robot that keeps a cursor in lib.state, so each run only stores
// the packets it has not seen yet.
var lib = require('./libs/helpers');
var url = 'https://liveobjects.orange-business.com/api/v0/data/streams/urn:lora:myDeviceDevEUI!uplink';

function main(text, auth) {
    var cursor = lib.state.get('lastTimestamp') || '';
    var packets = lib.get(url, {authType: 'API', apiKey: 'myLiveObjectsApikey', Accept: 'application/json'});
    var fresh = packets.filter(function (p) { return p.timestamp > cursor; });
    fresh.forEach(function (p) {
        lib.write('orange.liveobjects.siconia', p, auth, ['liveObjects']);
        if (p.timestamp > cursor) cursor = p.timestamp;
    });
    lib.state.set('lastTimestamp', cursor);
    print('stored ' + fresh.length + ' new packet(s); cursor at ' + cursor);
}

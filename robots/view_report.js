// A scheduled robot that reads a view: average temperature per device, from the
// byDevice view (a $group pipeline over io.demo.readings), kept as one summary record.
var lib = require('./libs/helpers');

function main(text, auth) {
    var view = lib.readShareByView(auth, 'io.demo.readings', 'byDevice', {min: -50});
    if (view.err != 0) {
        print('view failed: ' + view.msg);
        return;
    }
    var devices = view.objs.map(function (row) {
        return {device: row._id, readings: row.n, avgTemperature: Math.round(row.avg * 10) / 10};
    });
    lib.writeShare(auth, 'io.demo.summary', {devices: devices}, ['summary']);
    print('summary of ' + devices.length + ' device(s)');
}

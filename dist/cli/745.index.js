"use strict";
exports.id = 745;
exports.ids = [745];
exports.modules = {

/***/ 86745:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

__webpack_require__.r(__webpack_exports__);
/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   hoistTrust: () => (/* binding */ hoistTrust),
/* harmony export */   trustedCas: () => (/* binding */ trustedCas)
/* harmony export */ });
/* harmony import */ var node_fs__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(73024);
/* harmony import */ var node_fs__WEBPACK_IMPORTED_MODULE_0___default = /*#__PURE__*/__webpack_require__.n(node_fs__WEBPACK_IMPORTED_MODULE_0__);
/* harmony import */ var node_tls__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(41692);
/* harmony import */ var node_tls__WEBPACK_IMPORTED_MODULE_1___default = /*#__PURE__*/__webpack_require__.n(node_tls__WEBPACK_IMPORTED_MODULE_1__);
/* harmony import */ var _client_js__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(47072);
/* harmony import */ var _extra_ca_js__WEBPACK_IMPORTED_MODULE_3__ = __webpack_require__(18966);
// The CAs Hoist trusts for https:// server URLs. Its own module so that node:tls loads only when
// an https URL is used (see send() in client.ts).




const SYSTEM_BUNDLES = [
    '/etc/ssl/certs/ca-certificates.crt',
    '/etc/pki/tls/certs/ca-bundle.crt',
    '/etc/ssl/cert.pem',
];
let systemCas;
/**
 * Node's own roots plus the system bundle, so a CA installed in the system store works too, plus
 * the NODE_EXTRA_CA_CERTS file the launcher kept Node from loading at start (extra-ca.ts).
 */
function trustedCas() {
    if (!systemCas) {
        systemCas = [...node_tls__WEBPACK_IMPORTED_MODULE_1__.rootCertificates];
        for (const f of SYSTEM_BUNDLES) {
            try {
                systemCas.push((0,node_fs__WEBPACK_IMPORTED_MODULE_0__.readFileSync)(f, 'utf8'));
                break;
            }
            catch {
                /* not on this system */
            }
        }
        const extra = (0,_extra_ca_js__WEBPACK_IMPORTED_MODULE_3__/* .deferredExtraCaFile */ .sO)();
        if (extra) {
            try {
                systemCas.push((0,node_fs__WEBPACK_IMPORTED_MODULE_0__.readFileSync)(extra, 'utf8'));
            }
            catch (err) {
                // what Node itself does with a file it cannot load: warn, and trust the rest
                process.emitWarning(`Ignoring extra certs from \`${extra}\` (NODE_EXTRA_CA_CERTS), load failed: ${err.message}`);
            }
        }
    }
    return systemCas;
}
/** CAs to trust for https:// Hoist URLs: the system's, plus HOIST_CA_CERT when set. */
function hoistTrust(env = process.env) {
    const extra = (0,_client_js__WEBPACK_IMPORTED_MODULE_2__/* .caPemFromEnv */ .cV)(env);
    return extra ? [...trustedCas(), extra] : trustedCas();
}


/***/ })

};
;
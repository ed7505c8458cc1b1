export const id = 814;
export const ids = [814];
export const modules = {

/***/ 814:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   runServerCommand: () => (/* binding */ runServerCommand)
/* harmony export */ });
/** `hoist server [init] [flags]`; returns the exit code. */
async function runServerCommand(argv) {
    process.stderr.write(`hoist server: not available yet (${argv.join(' ')})\n`);
    return 1;
}


/***/ })

};

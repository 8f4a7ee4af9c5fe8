// Keeps each Artillery virtual user looping until SECONDS have passed since it started.
const seconds = parseFloat(process.env.SECONDS || '10');
module.exports = {
  start(context, events, done) {
    context.vars.deadline = Date.now() + seconds * 1000;
    return done();
  },
  running(context, next) {
    return next(Date.now() < context.vars.deadline);
  },
};

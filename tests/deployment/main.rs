//! What a deployment is made of, held against the code: the template's model of the
//! functions ([`template`]), their least-privilege policies ([`iam`]), one set of routes
//! everywhere ([`agreement`]), the stack as CloudFormation receives it ([`stack`]), and the
//! bootstraps `sam build` makes ([`bootstraps`]), and the docs that describe it ([`docs`]).

mod agreement;
mod bootstraps;
mod docs;
mod iam;
mod stack;
mod template;

//! `#[derive(Stateful)]` for a struct whose fields are modules, tensors,
//! lists of them or plain settings: PyTorch's `nn.Module` bookkeeping
//! (named parameters, buffers, the state dict, train/eval) without writing
//! it by hand, as burn's `#[derive(Module)]`. Each field's state is named
//! under the field's name (`encoder.0.weight`), in field order; a field
//! marked `#[stateful(skip)]` is left out (PyTorch's non-persistent state).

use proc_macro::TokenStream;
use proc_macro2::TokenStream as Tokens;
use quote::quote;
use syn::{Data, DeriveInput, Fields, Index, parse_macro_input};

#[proc_macro_derive(Stateful, attributes(stateful))]
pub fn derive_stateful(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match expand(&input) {
        Ok(t) => t.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

fn expand(input: &DeriveInput) -> syn::Result<Tokens> {
    let Data::Struct(data) = &input.data else {
        return Err(syn::Error::new_spanned(
            input,
            "#[derive(Stateful)] takes a struct (its fields are the state)",
        ));
    };
    let fields = kept_fields(&data.fields)?;
    let name = &input.ident;
    let (impl_g, ty_g, where_g) = input.generics.split_for_impl();
    let named = |method: Tokens| {
        let parts = fields.iter().map(|(label, access)| {
            quote! {
                v.extend(::shadergrad::nn::prefixed(#label, ::shadergrad::nn::Stateful::#method(&self.#access)));
            }
        });
        quote! {
            let mut v = ::std::vec::Vec::new();
            #(#parts)*
            v
        }
    };
    let params = named(quote!(named_parameters));
    let buffers = named(quote!(named_buffers));
    let accesses = fields.iter().map(|(_, a)| a);
    Ok(quote! {
        impl #impl_g ::shadergrad::nn::Stateful for #name #ty_g #where_g {
            fn named_parameters(&self) -> ::std::vec::Vec<(::std::string::String, ::shadergrad::Tensor)> {
                #params
            }
            fn named_buffers(&self) -> ::std::vec::Vec<(::std::string::String, ::shadergrad::Tensor)> {
                #buffers
            }
            fn set_training(&self, on: bool) {
                #(::shadergrad::nn::Stateful::set_training(&self.#accesses, on);)*
            }
        }
    })
}

/// (name, accessor) of each field not marked skip: `x` for a named field,
/// `0` for a tuple struct's first.
fn kept_fields(fields: &Fields) -> syn::Result<Vec<(String, Tokens)>> {
    let mut kept = Vec::new();
    for (i, f) in fields.iter().enumerate() {
        if skipped(f)? {
            continue;
        }
        kept.push(match &f.ident {
            Some(id) => (id.to_string(), quote!(#id)),
            None => {
                let ix = Index::from(i);
                (i.to_string(), quote!(#ix))
            }
        });
    }
    Ok(kept)
}

fn skipped(f: &syn::Field) -> syn::Result<bool> {
    let mut skip = false;
    for attr in f.attrs.iter().filter(|a| a.path().is_ident("stateful")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("skip") {
                skip = true;
                Ok(())
            } else {
                Err(meta.error("the one #[stateful] option is `skip`"))
            }
        })?;
    }
    Ok(skip)
}
